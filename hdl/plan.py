"""One core build: config, lanes and simulation options, validated once, with the layouts, copy programs and
cycle formulas that the gateware is built from and the host counts on (no Amaranth: a board runtime imports it)."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from golden import config
from golden.config import INPUT_PIXELS, Config, require
from golden.fixed_formats import FixedConstants, derive, lr_codes

from .layout import (DEFAULT_DEPTH, FAMILIES, MeasureLayout, Pipeline, ProjectionLayout, RefreshLayout, RelaxLayout,
                     UpdateLayout)

DEFAULT_LANES = 16  # P of a build that names none, capped at what its network can use (`default_lanes`)
MAX_SAMPLES = 16  # default largest run-time N (readings per measurement) of a build
TIMEOUT_FACTOR = 4  # a command's default timeout, in units of the longest TRAIN sample the build can run
# What a simulation build's Verilog does not depend on: run-time registers and the run's own settings.
# Not the variant: the RefreshEngine counts the saturated reciprocals of the build's variant (a constant of the build)
RUNTIME_SETTINGS = ("epochs", "seed", "sigma", "beta", "sweeps", "sweeps_eval", "order", "warm_start", "samples",
                    "dataset", "data_dir", "dtype", "lr_decay", "model")


class Src(enum.Enum):
    """Where a copy word is read (every source answers one cycle after its address)."""

    ZERO = 0
    LABEL = 1    # 1 if the entry's address is the label, else 0
    PROJ = 2     # InputProjection P_j
    S0 = 3       # warm-start state (flat node order)
    FREE = 4     # free state
    S1 = 5       # -beta state
    RELAX_V = 6
    UPD_GP = 7   # the parameter memory's GP banks (layers >= 2)
    UPD_B = 8
    REF_R = 9


class Dst(enum.Enum):
    """Where a copy word is written."""

    RELAX_G = 0
    RELAX_B = 1
    RELAX_R = 2
    RELAX_P = 3
    RELAX_Y = 4
    RELAX_V = 5
    FREE = 6
    FREE_S0 = 7
    S1 = 8
    S0 = 9


Entry = tuple[Src, int, int, Dst, int, int]  # source, bank, address -> destination, bank, address


def build_id(cfg: Config) -> int:
    """CRC-32 of what a bitstream fixes from the config (layer sizes and number formats): the BUILD_ID register."""
    key = json.dumps({"sizes": cfg.sizes, "fixed": dataclasses.asdict(cfg.fixed)}, sort_keys=True)
    return zlib.crc32(key.encode())


def most_lanes(cfg: Config) -> int:
    """The widest free layer of `cfg` rounded up to a power of two: lane p owns the nodes j = p mod P of every
    layer, so more lanes would only idle (fewer than that pad the last group of a layer)."""
    return 1 << (max(cfg.sizes[1:]) - 1).bit_length()


def default_lanes(cfg: Config) -> int:
    """DEFAULT_LANES, or fewer for a network whose widest layer has fewer nodes."""
    return min(DEFAULT_LANES, most_lanes(cfg))


@dataclass(frozen=True)
class CoreBuild:
    """What one core is built from: a fixed-point online config, P `lanes`, the largest run-time N
    (`max_samples`), `clock_gating` of idle lane units (a simulation speed-up, never synthesised), and
    the datapath's pipeline: `depth` registered stages per wide product and the `family` whose
    multiplier blocks the products are split for (hdl/layout.py `Pipeline`).

    Constructing it checks everything a user can get wrong, each as a one-line ConfigError.
    """

    cfg: Config
    lanes: int
    clock_gating: bool = False
    max_samples: int = MAX_SAMPLES
    depth: int = DEFAULT_DEPTH
    family: str = "ecp5"

    def __post_init__(self) -> None:
        cfg, lanes = self.cfg, self.lanes
        require(cfg.precision == "fixed", f"precision = {cfg.precision}: the core computes the fixed-point model only")
        # lr_codes scales the update by 1/batch_size; the core applies every sample's update at once
        require(cfg.batch_size == 1, f"batch_size = {cfg.batch_size}: the core trains online, one sample per "
                "update; set batch_size = 1")
        require(isinstance(self.max_samples, int) and self.max_samples >= 1,
                f"max_samples must be an integer >= 1, got {self.max_samples!r}")
        require(cfg.samples <= self.max_samples,
                f"samples (N) = {cfg.samples}: the core measures at most {self.max_samples} times")
        widest = most_lanes(cfg)
        require(isinstance(lanes, int) and lanes in [1 << k for k in range(widest.bit_length())],
                f"lanes must be a power of two from 1 to {widest} (the widest layer, rounded up), got {lanes}")
        require(isinstance(self.depth, int) and self.depth >= 1,
                f"depth must be an integer >= 1 (registered stages per product), got {self.depth!r}")
        require(self.family in FAMILIES, f"family must be one of {', '.join(FAMILIES)}, got {self.family!r}")
        require(cfg.fixed.round_update != "stochastic" or lanes == 1,
                "round_update = stochastic: the core's update rounds stochastically with one lane only; use lanes 1")

    @classmethod
    def load(cls, model: str | None, config_file: str | Path | None, lanes: int | None = None,
             clock_gating: bool = False) -> CoreBuild:
        """The build of a preset or TOML config on the hardware defaults; when lanes is None, the config file's
        [run] lanes, else `default_lanes`."""
        cfg = config.load(model, config_file, hardware=True)
        lanes = lanes if lanes is not None else config.run_options(config_file).get("lanes", default_lanes(cfg))
        return cls(cfg, lanes, clock_gating)

    # ---- identity ----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The simulation build folder's name: sizes, lanes and a digest of all the Verilog depends on (formats,
        learning-rate shifts, max_samples, ...; not the run-time settings), and the ungated suffix."""
        key = {k: v for k, v in self.cfg.to_dict().items() if k not in RUNTIME_SETTINGS}
        digest = hashlib.sha256(json.dumps({"config": key, "lanes": self.lanes, "max_samples": self.max_samples,
                                            "depth": self.depth, "family": self.family},
                                           sort_keys=True).encode()).hexdigest()[:12]
        gating = "" if self.clock_gating else "-ungated"
        return f"{'-'.join(map(str, self.sizes))}-p{self.lanes}-{digest}{gating}"

    @property
    def build_id(self) -> int:
        """The register map's BUILD_ID of this build."""
        return build_id(self.cfg)

    # ---- shapes and layouts ------------------------------------------------------------------

    @cached_property
    def consts(self) -> FixedConstants:
        return derive(self.cfg)

    @property
    def sizes(self) -> list[int]:
        return [int(v) for v in self.cfg.sizes]

    @property
    def top(self) -> int:
        return len(self.sizes) - 1

    @property
    def centered(self) -> bool:
        """The build's variant: RefreshEngine counts saturated reciprocals of sign -1 only when centered."""
        return self.cfg.variant == "centered"

    @property
    def shifts(self) -> tuple[list[int], list[int]]:
        """The learning-rate shifts s_w[l], s_b[l] (l = 1..top), constants of the UpdateEngine."""
        _, s_w, _, s_b = lr_codes(self.cfg, self.consts, 0)
        return [int(s) for s in s_w[1:]], [int(s) for s in s_b[1:]]

    @property
    def pipe(self) -> Pipeline:
        return Pipeline(self.depth, self.family)

    @cached_property
    def projection(self) -> ProjectionLayout:
        return ProjectionLayout(self.sizes[1], self.lanes, pipe=self.pipe)

    @cached_property
    def relax(self) -> RelaxLayout:
        return RelaxLayout(self.sizes, self.lanes, self.pipe)

    @cached_property
    def measure(self) -> MeasureLayout:
        return MeasureLayout(self.n_free, self.consts.lanes, self.max_samples, self.consts.round_noise, self.pipe)

    @cached_property
    def update(self) -> UpdateLayout:
        return UpdateLayout(self.sizes, self.lanes, self.pipe)

    @cached_property
    def refresh(self) -> RefreshLayout:
        return RefreshLayout(self.sizes, self.lanes, self.consts, self.pipe)

    @property
    def n_free(self) -> int:
        return int(self.relax.layout.n_free)

    @property
    def n_params(self) -> int:
        return int(self.relax.layout.n_params)

    @property
    def out_off(self) -> int:
        return int(self.relax.layout.n_off[self.top])

    @property
    def data_bits(self) -> int:
        """Width of a word on the core's parameter port and copy path (every code with a sign bit to spare)."""
        c = self.consts
        return max(c.g_bits + 2, c.b_bits, c.acc_bits, c.v_bits, c.recip_bits + 2, c.vin_bits) + 1

    # ---- copy programs -----------------------------------------------------------------------

    def node_word(self, node: int) -> tuple[int, int]:
        """(bank, address) of free node `node` (flat n_off order) in the engines' node memories."""
        return self.relax.node_word(node)

    def _upd_w(self, l: int, i: int, j: int) -> tuple[int, int]:
        """(bank, address) of W_l[i, j], l >= 2, in the parameter memory's GP banks."""
        minus, bank, addr = self.update.weight(l, i, j)
        assert not minus
        return bank, addr

    @cached_property
    def programs(self) -> dict[str, list[Entry]]:
        """The copy engine's segments, in ROM order (EPCore's docstring says when each runs)."""
        L, n, top, r = self.lanes, self.sizes, self.top, self.relax
        progs: dict[str, list[Entry]] = {}
        a: list[Entry] = []
        for l in range(1, top + 1):
            for j in range(n[l]):
                p, g = j % L, j // L
                if l > 1:
                    for i in range(n[l - 1]):
                        a.append((Src.UPD_GP, *self._upd_w(l, i, j), Dst.RELAX_G, p, r.g_base[l] + g * r.terms[l] + i))
                if l < top:
                    lo = n[l - 1] if l > 1 else 0
                    for k in range(n[l + 1]):
                        a.append((Src.UPD_GP, *self._upd_w(l + 1, j, k), Dst.RELAX_G, p,
                                  r.g_base[l] + g * r.terms[l] + lo + k))
                a.append((Src.UPD_B, p, r.v_base[l] + g, Dst.RELAX_B, p, r.v_base[l] + g))
        progs["sync_a"] = a
        progs["sync_b"] = [(Src.REF_R, p, x, Dst.RELAX_R, p, x) for p in range(L) for x in range(self.refresh.r_depth)]
        progs["py"] = ([(Src.PROJ, 0, j, Dst.RELAX_P, j % L, j // L) for j in range(n[1])]
                       + [(Src.LABEL, 0, j, Dst.RELAX_Y, j % L, j // L) for j in range(n[top])])
        nodes = [self.node_word(v) for v in range(self.n_free)]
        for name, src in (("v_from_s0", Src.S0), ("v_from_zero", Src.ZERO), ("v_from_free", Src.FREE)):
            progs[name] = [(src, 0, v, Dst.RELAX_V, *nodes[v]) for v in range(self.n_free)]
        for name, dst in (("v_to_free_s0", Dst.FREE_S0), ("v_to_free", Dst.FREE), ("v_to_s1", Dst.S1)):
            progs[name] = [(Src.RELAX_V, *nodes[v], dst, 0, v) for v in range(self.n_free)]
        progs["clear_s0"] = [(Src.ZERO, 0, v, Dst.S0, 0, v) for v in range(self.n_free)]
        return progs

    @cached_property
    def segments(self) -> dict[str, tuple[int, int]]:
        """(first ROM entry, entries) of every program."""
        out, start = {}, 0
        for name, prog in self.programs.items():
            out[name] = (start, len(prog))
            start += len(prog)
        return out

    @property
    def rom(self) -> list[Entry]:
        """The copy ROM: every program's entries, in `segments` order."""
        return [e for prog in self.programs.values() for e in prog]

    @property
    def bank_bits(self) -> int:
        return max(self.lanes.bit_length() - 1, 1)

    @property
    def addr_bits(self) -> int:
        rom = self.rom
        return max(max(e[2] for e in rom), max(e[5] for e in rom), 1).bit_length()

    # ---- cycles (EPCore's docstring derives them) ---------------------------------------------

    def copy_cycles(self, name: str) -> int:
        """Cycles of a copy segment: entries + 3 (its start state, the source and destination stages)."""
        return self.segments[name][1] + 3

    def train_cycles(self, nonzero: int, nsweeps: int, sn: int, samples: int, centered: bool) -> int:
        """`cycles` after a TRAIN sample whose pixels come back to back (`nonzero` with vin != 0):
        (projection + 2) + phases x (relax + 1) + 2 x (measure + 1) + (update + 1) + (refresh + 1) + 5
        + copies, phases = 3 centered else 2, the units' own counts (hdl/layout.py), copies = a segment's
        entries + 3 each: py (n_1 + n_top), V in and out (n_free each, twice more when centered), sync_a
        (the conductances of layers >= 2 twice for the RelaxEngine's rows + n_free biases), sync_b
        (P x (G_free + 2 G_top) reciprocal words, G_free = sum_l G_l), G_l = ceil(n_l / P)."""
        proj = self.projection.expected_cycles(nonzero) + 2  # start, busy cycles, done
        relax = self.relax.cycle_count(nsweeps) + 1
        meas = self.measure.expected_cycles(sn, samples) + 1  # busy cycles, done (the second's start)
        phases = 3 if centered else 2
        copies = (self.copy_cycles("py") + self.copy_cycles("v_from_s0") + self.copy_cycles("v_to_free_s0")
                  + (self.copy_cycles("v_to_s1") + self.copy_cycles("v_from_free") if centered else 0))
        # + the first measurement's start, 3 decision states and done
        return proj + phases * relax + 2 * meas + self.update.cycle_count() + 1 + self.tail_cycles() + copies + 5

    def tail_cycles(self) -> int:
        """Cycles of the end of every TRAIN sample: sync_a, refresh, sync_b."""
        return self.copy_cycles("sync_a") + self.refresh.cycle_count() + 1 + self.copy_cycles("sync_b")

    def load_cycles(self) -> int:
        """`cycles` after a LOAD command (the tail and the done cycle)."""
        return self.tail_cycles() + 1

    def clear_cycles(self) -> int:
        """`cycles` after a CLEAR command (the copy and the done cycle)."""
        return self.copy_cycles("clear_s0") + 1

    def infer_cycles(self, nonzero: int, nsweeps: int) -> int:
        """`cycles` after an INFER sample."""
        # + 2 decision states and done
        return (self.projection.expected_cycles(nonzero) + 2 + self.copy_cycles("py")
                + self.copy_cycles("v_from_zero") + self.relax.cycle_count(nsweeps) + 1
                + self.copy_cycles("v_to_free") + 3)

    def lower_bound(self, nonzero: int, nsweeps: int, centered: bool) -> int:
        """ceil(ops / P): a TRAIN sample's multiply-accumulates spread over the P lanes, ops = nonzero n_1
        (projection) + phases x nsweeps x sum_{l >= 2} 2 n_{l-1} n_l (relaxation, each W_l used from both
        sides) + n_cond (the update) + n_cond (the totals). One operation per lane per cycle: the
        RefreshEngine adds W+ and W- of layer 1 in the same cycle, so small networks can come in under it."""
        n, top = self.sizes, self.top
        n_cond = sum(n[l - 1] * n[l] for l in range(1, top + 1))
        relax = (3 if centered else 2) * nsweeps * sum(2 * n[l - 1] * n[l] for l in range(2, top + 1))
        ops = nonzero * n[1] + relax + n_cond + n_cond  # projection, relaxation, update, totals
        return -(-ops // self.lanes)

    def trace_entries_per_train(self, nsweeps: int, centered: bool) -> int:
        """Trace entries of one TRAIN sample: an ITERATE per group per layer update, a MEASURE per free node twice."""
        phases = 3 if centered else 2
        return phases * nsweeps * sum(self.relax.groups[1:]) + 2 * self.n_free

    def longest_command(self, nsweeps: int) -> int:
        """The cycles of the longest command with up to `nsweeps` sweeps: a centered TRAIN sample of non-zero
        pixels only and `max_samples` readings per node (or a LOAD, should it be longer)."""
        return max(self.train_cycles(INPUT_PIXELS, nsweeps, 1, self.max_samples, True), self.load_cycles())

    def timeout_cycles(self, nsweeps: int | None = None) -> int:
        """A generous timeout of a command: TIMEOUT_FACTOR times `longest_command` (of the config's sweeps when
        `nsweeps` is None)."""
        return TIMEOUT_FACTOR * self.longest_command(max(self.cfg.sweeps, self.cfg.sweeps_eval) if nsweeps is None
                                                     else nsweeps)

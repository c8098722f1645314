"""Tests of hdl.estimate: cell counts to resources, verdicts against parts, and a real synthesis."""

# amaranth: UnusedElaboratable=no

import json

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hdl.estimate import PARTS, EstimateError, async_memories, estimate, part, resources, verdict
from hdl.recip import Reciprocal
from host.cli import main


def test_cells_map_to_resources():
    cells = {"LUT6": 10, "LUT2": 5, "RAM64M": 2, "SRLC32E": 1, "FDRE": 7, "FDSE": 1, "DSP48E1": 3,
             "RAMB36E1": 2, "RAMB18E1": 3, "CARRY4": 9, "BUFG": 1}
    assert resources(cells) == {"lut": 24, "lutram": 8, "ff": 8, "dsp": 3, "bram36": 3.5, "uram": 0}


def test_verdict_against_the_zynq_7020():
    z = part("xc7z020")
    ok = verdict({"lut": 53_200, "ff": 10, "dsp": 220, "bram36": 140, "uram": 0}, z)
    assert ok["fits"] and ok["utilisation"]["dsp"] == 1.0 and ok["board"] == "PYNQ-Z2"
    over = verdict({"lut": 1, "ff": 1, "dsp": 0, "bram36": 140.5, "uram": 0}, z)
    assert not over["fits"]
    assert not verdict({"lut": 1, "ff": 1, "dsp": 0, "bram36": 0, "uram": 1}, z)["fits"]  # no URAM on a 7020
    assert set(PARTS) >= {"xc7z020", "xck26", "xczu7ev"}
    with pytest.raises(EstimateError, match="unknown part 'xc9'"):
        part("xc9")


def test_the_reciprocal_unit_synthesises_without_dsp_and_fits():
    est = estimate(Reciprocal(36, 44, 28), "recip", "xc7z020")
    used = est["used"]
    # registers: remainder and divisor (35 bits each), quotient (28), a step counter and flags
    assert 28 + 2 * 35 <= used["ff"] <= 200
    assert used["lut"] > 35 and used["dsp"] == 0 and used["bram36"] == 0
    assert est["fits"]


def test_estimate_command_writes_the_json_and_the_verdict(tmp_path, capsys, monkeypatch):
    """The CLI glue on a tiny core, with synth_xilinx's cell counts stubbed (a real synthesis is tested above)."""
    cfg = tmp_path / "tiny.toml"
    cfg.write_text("hidden = [2]\n")
    seen = {}

    def synthesise(text: str, top: str, family: str) -> dict[str, int]:
        seen.update(top=top, family=family, rtlil="module \\ep_core" in text)
        return {"LUT6": 60_000, "FDRE": 10, "RAMB36E1": 2, "RAM64M": 1}

    monkeypatch.setattr("hdl.estimate.synthesise", synthesise)
    out = tmp_path / "est.json"
    args = ["hdl", "estimate", "--config", str(cfg), "--lanes", "1", "--part", "xc7z020", "--out", str(out)]
    assert main(args) == 0
    assert seen == {"top": "ep_core", "family": "xc7", "rtlil": True}
    result = json.loads(out.read_text())
    assert result["used"] == {"lut": 60_004, "lutram": 4, "ff": 10, "dsp": 0, "bram36": 2, "uram": 0}
    assert result["verdict"] == "does not fit" and not result["fits"] and result["sizes"] == [1568, 2, 10]
    printed = capsys.readouterr().out.splitlines()
    assert json.loads(printed[-1]) == result
    assert printed[0].startswith("ep_core on xc7z020 (PYNQ-Z2): does not fit")
    assert main([*args[:-4], "--part", "xck26"]) == 0  # the same LUTs fit a KV260
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["verdict"] == "fits"


def test_estimate_command_rejects_an_unknown_part_in_one_line(capsys):
    assert main(["hdl", "estimate", "--model", "drn-xs", "--part", "xc9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown part 'xc9'" in err


def test_a_large_asynchronously_read_memory_is_named_before_synthesis():
    class Tables(wiring.Component):
        """A ROM read combinationally (too large for anything but block RAM) and a small one read by a clock."""

        def __init__(self, words: int) -> None:
            self.words = words
            super().__init__({"addr": In(range(words)), "big": Out(32), "small": Out(8)})

        def elaborate(self, platform):
            m = Module()
            m.submodules.table = big = Memory(shape=32, depth=self.words, init=range(self.words))
            m.submodules.little = small = Memory(shape=8, depth=16, init=range(16))
            rd, rs = big.read_port(domain="comb"), small.read_port()
            m.d.comb += [rd.addr.eq(self.addr), rs.addr.eq(self.addr), self.big.eq(rd.data), self.small.eq(rs.data)]
            return m

    assert async_memories(rtlil.convert(Tables(64), name="tables", emit_src=False)) == [("tables.table", 64, 32)]
    with pytest.raises(EstimateError, match=r"memory tables.table \(40000 x 32 bits\) is read asynchronously"):
        estimate(Tables(40_000), "tables", "xc7z020")

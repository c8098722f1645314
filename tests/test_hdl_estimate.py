"""Tests of hdl.estimate: cell counts to resources, verdicts against parts, and a real synthesis."""

# amaranth: UnusedElaboratable=no

import pytest

from hdl.estimate import PARTS, EstimateError, estimate, part, resources, verdict
from hdl.recip import Reciprocal


def test_cells_map_to_resources():
    cells = {"LUT6": 10, "LUT2": 5, "RAM64M": 2, "SRLC32E": 1, "FDRE": 7, "FDSE": 1, "DSP48E1": 3,
             "RAMB36E1": 2, "RAMB18E1": 3, "CARRY4": 9, "BUFG": 1}
    assert resources(cells) == {"lut": 24, "ff": 8, "dsp": 3, "bram36": 3.5, "uram": 0}


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

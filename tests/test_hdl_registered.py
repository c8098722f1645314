# amaranth: UnusedElaboratable=no
"""RegisteredPorts (hdl/registered.py): every port of the wrapped component one cycle later, nothing else."""

from __future__ import annotations

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.registered import RegisteredPorts
from hdl_sim import simulate


class Adder(wiring.Component):
    """A combinational component: s = a + 1."""

    def __init__(self) -> None:
        super().__init__({"a": In(8), "s": Out(8)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.d.comb += self.s.eq(self.a + 1)
        return m


def test_inputs_and_outputs_each_take_one_register():
    dut = RegisteredPorts(Adder(), "adder")
    assert set(dut.signature.members) == {"a", "s"}
    seen = []

    async def bench(ctx) -> None:
        for value in (5, 9, 200, 0):
            ctx.set(dut.a, value)
            await ctx.tick()
            seen.append(ctx.get(dut.s))

    simulate(dut, bench)
    # read after each clock edge: a + 1 of the value set before the previous edge (the input register takes it
    # at one edge, the output register at the next); the first read is the reset value's 0 + 1
    assert seen == [1, 6, 10, 201]


class Nested(wiring.Component):
    """A component with an interface port."""

    def __init__(self) -> None:
        super().__init__({"bus": Out(wiring.Signature({"x": Out(1)}))})

    def elaborate(self, platform: object) -> Module:
        return Module()


def test_an_interface_port_is_refused():
    with pytest.raises(ValueError, match="port bus of Nested is an interface"):
        RegisteredPorts(Nested(), "n")

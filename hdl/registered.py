"""A thin wrapper that registers every port of a component, so that a timing figure is the component's, not the pins'."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring


class RegisteredPorts(wiring.Component):
    """`inner`'s ports (flat ports only, e.g. EPTop's `s_axil_*`), each through one register in the sync domain:
    every path from or to a pin starts or ends at a flip-flop beside it. Its submodule is named `name`."""

    def __init__(self, inner: wiring.Component, name: str) -> None:
        members = dict(inner.signature.members)
        for port, member in members.items():
            if not member.is_port:
                raise ValueError(f"port {port} of {type(inner).__name__} is an interface: only flat ports are registered")
        self.inner, self.name = inner, name
        super().__init__(members)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules[self.name] = self.inner
        for port, member in self.signature.members.items():
            outer, inner = getattr(self, port), getattr(self.inner, port)
            m.d.sync += inner.eq(outer) if member.flow == wiring.In else outer.eq(inner)
        return m

"""Clock gating of idle lane units: a simulation speed-up (Verilator evaluates logic only on its clock's edges)."""

from __future__ import annotations

from collections.abc import Callable

from amaranth.hdl import ClockDomain, ClockSignal, DomainRenamer, Elaboratable, Module, ResetSignal, Signal, Value


def gated_domain(m: Module, name: str, enable: Value, gating: bool) -> Callable[[Elaboratable], Elaboratable]:
    """What puts a unit (a submodule of `m`) on a clock it needs only in cycles where `enable` is high.

    Without `gating` the unit keeps the module's own `sync`. With it, a local domain `name` whose clock is
    `sync`'s, gated: it has the rising edge that ends a cycle exactly when `enable` (or the reset)
    was high in that cycle, which is what a clock enable of `enable | rst` on every register of the
    domain would do, once the clock has fallen (the enable starts low: a simulation whose clock
    starts low has no gated edge in its first cycle). The enable is sampled on the falling edge,
    so the gated clock has no glitch.
    Verilator then skips the logic of an idle unit (an always-running unit costs the same as a busy
    one); an FPGA build keeps the plain clock (gating a clock in logic does not belong in its fabric).
    """
    if not gating:
        return lambda unit: unit
    fall = ClockDomain(f"{name}_fall", clk_edge="neg", local=True, reset_less=True)
    gated = ClockDomain(name, local=True)
    m.domains += [fall, gated]
    en = Signal(name=f"{name}_en")
    m.d.comb += [fall.clk.eq(ClockSignal()), gated.clk.eq(ClockSignal() & en), gated.rst.eq(ResetSignal())]
    m.d[fall.name] += en.eq(enable | ResetSignal())
    return DomainRenamer(name)

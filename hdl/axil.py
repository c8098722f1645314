"""AXI4-Lite target of the register bank: AXI4LiteSlave (AXI4-Lite -> the bank's simple bus) and RegisterFile (slave + bank).

Behaviour on the bus (clock domain `sync`; every output is a register, so no path from a READY or
VALID input reaches an output in the same cycle):

- One transaction of each kind in flight. AWREADY, WREADY and ARREADY are high while their holding
  register is empty: the slave takes AW and W in any order, in the same cycle or apart, and keeps
  each until the pair has been executed; ARREADY likewise. A second AW (or W, AR) may be accepted
  while the previous response still waits for BREADY (RREADY); it executes once that response is
  taken.
- A write executes on the bank the cycle after it holds both AW and W (and no B response is
  pending); BVALID rises the cycle after that and holds, with BRESP, until BREADY. If the last of
  AW/W is taken in cycle t, the bank's register changes at the end of cycle t+1 and BVALID is high
  from cycle t+2.
- A read executes the cycle after AR was taken (when no R response is pending): if AR is taken in
  cycle t, RVALID and RDATA are valid from cycle t+2 and hold until RREADY. RDATA is the bank's
  read register, which changes only when the next read executes.
- Reads and writes share the bank's bus, one per cycle: when both are ready in the same cycle the
  write goes first (no starvation: neither side can execute in two consecutive cycles, since each
  needs a new address handshake after it executes). With BREADY/RREADY high the slave sustains one
  write every 2 cycles and one read every 2 cycles, interleaved to one access per cycle. Between
  a read and a write in flight together AXI defines no order: a master that needs one waits for
  the response.
- WSTRB: only full-word writes (WSTRB = 0b1111) reach the bank. A write with any other strobe
  (including 0) changes nothing and is answered SLVERR, so a byte or half-word store cannot
  corrupt a register, nor fire its strobes or pulse fields.
- Addresses are byte addresses; bits 1:0 are ignored (the access is to the whole word). The bank
  decodes every address bit: a word outside the map reads 0 and ignores writes, as the map's
  documentation says, and is answered OKAY (a SLVERR would be a bus error, SIGBUS, for a PYNQ MMIO
  read of a stray offset). Reads always answer OKAY.
- AWPROT/ARPROT are accepted and ignored. Reset is Amaranth's synchronous active-high `rst`
  (an AXI wrapper inverts ARESETn); in reset BVALID/RVALID are low and the holding registers empty.

Port names in the Verilog: Amaranth names a port by its path in the component's signature joined
with "__", so AXI4LiteSlave's nested interface `axi` comes out as `axi__awaddr`, ...; RegisterFile
declares the channels as flat members `s_axil_awaddr`, `s_axil_awvalid`, ..., the names from which
Vivado's IP packager infers an AXI4-Lite interface `s_axil`, and the bank's core ports as
`regs__<register>` (a register with fields is one vector, its fields at their bit positions).
"""

from __future__ import annotations

import enum

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.regmap.bank import RegisterBank, bus_signature
from hdl.regmap.language import DATA_BITS, WORD_BYTES, RegisterMap

STRB_BITS = DATA_BITS // 8
FULL_STRB = (1 << STRB_BITS) - 1
AXIL_PREFIX = "s_axil"


class Resp(enum.IntEnum):
    """AXI BRESP/RRESP codes."""

    OKAY = 0
    EXOKAY = 1
    SLVERR = 2
    DECERR = 3


def axil_signature(addr_width: int) -> wiring.Signature:
    """The five AXI4-Lite channels with 32-bit data and `addr_width`-bit byte addresses, seen from the master."""
    if addr_width < 2:
        raise ValueError(f"an AXI4-Lite byte address needs at least 2 bits, got {addr_width}")
    return wiring.Signature({
        "awaddr": Out(addr_width), "awprot": Out(3), "awvalid": Out(1), "awready": In(1),
        "wdata": Out(DATA_BITS), "wstrb": Out(STRB_BITS), "wvalid": Out(1), "wready": In(1),
        "bresp": In(2), "bvalid": In(1), "bready": Out(1),
        "araddr": Out(addr_width), "arprot": Out(3), "arvalid": Out(1), "arready": In(1),
        "rdata": In(DATA_BITS), "rresp": In(2), "rvalid": In(1), "rready": Out(1),
    })


class AXI4LiteSlave(wiring.Component):
    """AXI4-Lite target (`axi`, axil_signature) in front of a register bank's bus (`bus`, bus_signature).

    Behaviour and latencies: the module docstring. `bus` drives one access per cycle: `w_en` (full-word
    writes only) or `r_en`, with `addr`; `r_data` must hold from the cycle after `r_en` until the next
    `r_en` (RegisterBank's contract), it is passed to RDATA unregistered.
    """

    def __init__(self, addr_width: int) -> None:
        self.addr_width = addr_width
        super().__init__({"axi": In(axil_signature(addr_width)), "bus": Out(bus_signature(addr_width))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        axi, bus = self.axi, self.bus

        aw_full = Signal()
        aw_addr = Signal(self.addr_width)
        w_full = Signal()
        w_data = Signal(DATA_BITS)
        w_strb = Signal(STRB_BITS)
        ar_full = Signal()
        ar_addr = Signal(self.addr_width)
        b_valid = Signal()
        b_resp = Signal(2)
        r_valid = Signal()

        m.d.comb += [
            axi.awready.eq(~aw_full),
            axi.wready.eq(~w_full),
            axi.arready.eq(~ar_full),
            axi.bvalid.eq(b_valid),
            axi.bresp.eq(b_resp),
            axi.rvalid.eq(r_valid),
            axi.rresp.eq(Resp.OKAY),
            axi.rdata.eq(bus.r_data),
        ]

        with m.If(axi.awvalid & ~aw_full):
            m.d.sync += [aw_full.eq(1), aw_addr.eq(axi.awaddr)]
        with m.If(axi.wvalid & ~w_full):
            m.d.sync += [w_full.eq(1), w_data.eq(axi.wdata), w_strb.eq(axi.wstrb)]
        with m.If(axi.arvalid & ~ar_full):
            m.d.sync += [ar_full.eq(1), ar_addr.eq(axi.araddr)]
        with m.If(axi.bready):
            m.d.sync += b_valid.eq(0)
        with m.If(axi.rready):
            m.d.sync += r_valid.eq(0)

        write_go = aw_full & w_full & ~b_valid
        read_go = ar_full & ~r_valid & ~write_go  # a write wins a tie
        full_word = w_strb == FULL_STRB
        m.d.comb += [
            bus.addr.eq(Mux(write_go, aw_addr, ar_addr)),
            bus.w_en.eq(write_go & full_word),
            bus.w_data.eq(w_data),
            bus.r_en.eq(read_go),
        ]
        with m.If(write_go):
            m.d.sync += [aw_full.eq(0), w_full.eq(0), b_valid.eq(1),
                         b_resp.eq(Mux(full_word, Resp.OKAY, Resp.SLVERR))]
        with m.If(read_go):
            m.d.sync += [ar_full.eq(0), r_valid.eq(1)]
        return m


class RegisterFile(wiring.Component):
    """RegisterBank(regmap) behind an AXI4LiteSlave: flat AXI4-Lite ports `s_axil_*` and the bank's core ports `regs`.

    `addr_width` (default: the map's, regmap.addr_width) is the width of AWADDR/ARADDR; every bit is
    decoded, so words from regmap.size up to 2**addr_width are unmapped (read 0, writes ignored).
    """

    def __init__(self, regmap: RegisterMap, addr_width: int | None = None) -> None:
        self.regmap = regmap
        self.addr_width = regmap.addr_width if addr_width is None else addr_width
        if self.addr_width < regmap.addr_width:
            raise ValueError(f"addr_width {self.addr_width} cannot reach every register of {regmap.name} "
                             f"({len(regmap)} words of {WORD_BYTES} bytes need {regmap.addr_width})")
        members = {f"{AXIL_PREFIX}_{name}": member.flip()
                   for name, member in axil_signature(self.addr_width).members.items()}
        members["regs"] = Out(regmap.core_signature())
        super().__init__(members)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.axil = axil = AXI4LiteSlave(self.addr_width)
        m.submodules.bank = bank = RegisterBank(self.regmap, self.addr_width)
        for name, member in axil_signature(self.addr_width).members.items():  # flows as the master sees them
            outer, inner = getattr(self, f"{AXIL_PREFIX}_{name}"), getattr(axil.axi, name)
            m.d.comb += inner.eq(outer) if member.flow == Out else outer.eq(inner)
        wiring.connect(m, axil.bus, bank.bus)
        wiring.connect(m, wiring.flipped(self.regs), bank.regs)
        return m

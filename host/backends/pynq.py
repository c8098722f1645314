"""The EP core on a PYNQ board: host.driver's Bus on pynq MMIO, a DefaultIP driver bound to the core's VLNV, overlay loading.

    bus = open_board(board="pynq-z2")              # the packaged overlay host/overlays/pynq-z2/ep_core.bit (+ .hwh)
    bus = open_board(bitfile="path/to/ep_core.bit")  # any overlay holding the core (its .hwh beside it)
    core = EPCoreInterface(bus, cfg)

The core is a register-mapped AXI4-Lite slave (no DMA master), so the driver needs MMIO only: no
pynq.allocate buffers. pynq is imported only here, only when a board is opened; it is not a
dependency of this package. Without pynq or a device, open_board raises a one-line CoreError.
"""

from __future__ import annotations

import os
from pathlib import Path
from time import sleep
from typing import Any

from host.driver import CoreError

VLNV = "epfpga:ep:ep_core:1.0"  # vendor:library:name:version the IP packager gives the core (host/flows/bitstream.py)
OVERLAYS = Path(__file__).resolve().parents[1] / "overlays"  # <board>/ep_core.bit, .hwh (make bitstream BOARD=...)
OVERLAY_NAME = "ep_core"
CLOCK_HZ = 100_000_000  # the core's clock in every block design (FCLK_CLK0 / pl_clk0)
NO_BOARD = ("no PYNQ board found ({}): point --overlay at a .bit with its .hwh, or use --target sim")

_drivers: dict[int, type] = {}  # the DefaultIP subclass per pynq module object


class MMIOBus:
    """host.driver's Bus on a pynq.MMIO of the core's address range; `wait` sleeps the cycles at `clock_hz`."""

    def __init__(self, mmio: Any, clock_hz: float = CLOCK_HZ) -> None:
        self.mmio, self.clock_hz = mmio, clock_hz

    async def read(self, offset: int) -> int:
        return int(self.mmio.read(offset))

    async def write(self, offset: int, value: int) -> None:
        self.mmio.write(offset, int(value))

    async def wait(self, cycles: int) -> None:
        sleep(cycles / self.clock_hz)


def ip_driver(pynq: Any) -> type:
    """The pynq.DefaultIP subclass bound to VLNV (defined once per pynq module: its metaclass registers bindto)."""
    known = _drivers.get(id(pynq))
    if known is None or not issubclass(known, pynq.DefaultIP):  # an id can be reused by another module
        class EPCoreIP(pynq.DefaultIP):
            """PYNQ's driver of the EP core: `bus` is host.driver's Bus on the IP's MMIO."""

            bindto = [VLNV]

            def __init__(self, description: dict) -> None:
                super().__init__(description=description)
                self.bus = MMIOBus(self.mmio)

        _drivers[id(pynq)] = EPCoreIP
    return _drivers[id(pynq)]


def packaged_overlay(board: str) -> Path:
    """The packaged overlay of a board: host/overlays/<board>/ep_core.bit."""
    return OVERLAYS / board / f"{OVERLAY_NAME}.bit"


def open_board(bitfile: str | Path | None = None, board: str | None = None, download: bool = True) -> MMIOBus:
    """Load an overlay holding the EP core (`bitfile`, else the packaged overlay of `board`, else of the
    board PYNQ names in $BOARD) and return the Bus of its first EP core."""
    if bitfile is not None and not Path(bitfile).is_file():  # the user's own file: its absence is the cause, pynq or not
        raise CoreError(f"overlay {bitfile} does not exist" if not Path(bitfile).exists() else
                        f"overlay {bitfile} is not a file")
    try:
        import pynq
    except ImportError:
        raise CoreError(NO_BOARD.format("pynq is not installed")) from None
    if not pynq.Device.devices:
        raise CoreError(NO_BOARD.format("pynq finds no device"))
    if bitfile is None:
        board = board or os.environ.get("BOARD", "").lower()
        if not board:
            raise CoreError("which overlay? give --overlay FILE.bit or a board (pynq-z2, kv260, zcu104)")
        bitfile = packaged_overlay(board)
    bit = Path(bitfile)
    if not bit.is_file():
        raise CoreError(f"overlay {bit} not found: build it with `make bitstream BOARD=...` or point --overlay at a .bit")
    if not bit.with_suffix(".hwh").is_file():
        raise CoreError(f"overlay {bit} has no {bit.with_suffix('.hwh').name} beside it (PYNQ reads the design from it)")
    driver = ip_driver(pynq)
    overlay = pynq.Overlay(str(bit), download=download)
    names = sorted(name for name, ip in overlay.ip_dict.items() if ip.get("type") == VLNV)
    if not names:
        raise CoreError(f"overlay {bit} holds no EP core (no IP of type {VLNV})")
    ip = getattr(overlay, names[0])
    if not isinstance(ip, driver):
        raise CoreError(f"PYNQ bound {type(ip).__name__} to {names[0]}, not the EP core's driver")
    return ip.bus

"""A fake `pynq` module for off-board tests of host/backends/pynq.py: Overlay, MMIO, allocate, Device and DefaultIP on a
memory model whose EP core's address range is routed to host.backends.model.CoreModel.

    fake = FakePynq({0x4000_0000: CoreModel(cfg)}, stall=8)
    monkeypatch.setitem(sys.modules, "pynq", fake.module)
    monkeypatch.setattr(host.backends.pynq, "sleep", fake.sleep)   # the device's clock runs when the driver sleeps

Every MMIO access lets 1..`stall` random cycles pass on the device (bus wait states); an Overlay's
ip_dict lists one IP per model, of type host.backends.pynq.VLNV, and its attributes are the drivers PYNQ
would bind: the DefaultIP subclass registered for that VLNV.
"""

from __future__ import annotations

import random
import types
from pathlib import Path
from typing import Any

import numpy as np

from host.backends.pynq import CLOCK_HZ, VLNV
from host.backends.model import CoreModel

ADDR_RANGE = 0x1_0000


class FakePynq:
    """The memory model (models by base address), its clock, and a module object with pynq's names."""

    def __init__(self, cores: dict[int, CoreModel], stall: int = 1, devices: int = 1, seed: int = 5) -> None:
        self.cores, self.stall, self.rng = cores, stall, random.Random(seed)
        self.loaded: list[str] = []
        self.drivers: dict[str, type] = {}
        fake = self

        class DefaultIP:
            def __init_subclass__(cls, **kwargs: Any) -> None:
                super().__init_subclass__(**kwargs)
                for vlnv in cls.__dict__.get("bindto", ()):
                    fake.drivers[vlnv] = cls

            def __init__(self, description: dict) -> None:
                self.mmio = MMIO(description["phys_addr"], description["addr_range"])

            def read(self, offset: int = 0) -> int:
                return self.mmio.read(offset)

            def write(self, offset: int, value: int) -> None:
                self.mmio.write(offset, value)

        class MMIO:
            def __init__(self, base_addr: int, length: int = 4) -> None:
                self.base_addr, self.length = base_addr, length

            def _core(self, offset: int) -> CoreModel:
                if offset % 4 or not 0 <= offset < self.length:
                    raise ValueError(f"MMIO offset {offset:#x} outside 0..{self.length:#x} or unaligned")
                core = fake.cores.get(self.base_addr)
                if core is None:
                    raise RuntimeError(f"bus error: nothing at {self.base_addr:#x}")
                core.tick(fake.rng.randint(1, fake.stall))
                return core

            def read(self, offset: int = 0, length: int = 4) -> int:
                return self._core(offset).read_now(offset)

            def write(self, offset: int, data: int) -> None:
                self._core(offset).write_now(offset, int(data) & 0xFFFF_FFFF)

        class Overlay:
            def __init__(self, bitfile_name: str, download: bool = True) -> None:
                path = Path(bitfile_name)
                if not (path.is_file() and path.with_suffix(".hwh").is_file()):
                    raise OSError(f"{bitfile_name} or its .hwh not found")
                if download:
                    fake.loaded.append(bitfile_name)
                self.ip_dict = {f"ep_core_{i}": {"phys_addr": base, "addr_range": ADDR_RANGE, "type": VLNV,
                                                 "fullpath": f"ep_core_{i}"}
                                for i, base in enumerate(sorted(fake.cores))}

            def __getattr__(self, name: str) -> Any:
                ip = self.__dict__["ip_dict"].get(name)
                if ip is None:
                    raise AttributeError(name)
                return fake.drivers.get(ip["type"], DefaultIP)(ip)

        class Device:
            pass

        Device.devices = [Device() for _ in range(devices)]
        self.module = types.ModuleType("pynq")
        self.module.DefaultIP, self.module.MMIO, self.module.Overlay, self.module.Device = DefaultIP, MMIO, Overlay, Device
        self.module.allocate = lambda shape, dtype=np.uint32: np.zeros(shape, dtype)

    def sleep(self, seconds: float) -> None:
        """What time.sleep does to the device: its clock runs on."""
        for core in self.cores.values():
            core.tick(max(1, round(seconds * CLOCK_HZ)))

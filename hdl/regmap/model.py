"""RegisterModel: a RegisterBank's bus-level behaviour in Python."""

from __future__ import annotations

from dataclasses import dataclass, field

from .language import RegisterMap


@dataclass
class RegisterModel:
    """Bus-level behaviour of a RegisterBank in Python (reference for the gateware and for driver tests).

    `inputs` holds the core's values of the non-constant ro registers; `set_bits` is the core setting
    w1c bits. `core_value(name)` is what the bank drives to the core (pulses excluded).
    """

    regmap: RegisterMap
    inputs: dict[str, int] = field(default_factory=dict)
    _store: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._store = {r.name: r.reset for r in self.regmap if r.access != "ro"}

    def write(self, offset: int, value: int) -> None:
        """A bus write of a 32-bit word."""
        reg = self.regmap.at(offset)
        if reg is None or reg.access == "ro":
            return
        value &= reg.mask
        if reg.access == "w1c":
            self._store[reg.name] &= ~value
        else:
            self._store[reg.name] = value & ~reg.pulse_mask

    def read(self, offset: int) -> int:
        """A bus read of a 32-bit word."""
        reg = self.regmap.at(offset)
        if reg is None or reg.access == "wo":
            return 0
        if reg.access == "ro":
            return reg.reset if reg.const else self.inputs.get(reg.name, 0) & reg.mask
        return self._store[reg.name]

    def set_bits(self, name: str, bits: int) -> None:
        """The core sets bits of a w1c register."""
        if self.regmap[name].access != "w1c":
            raise ValueError(f"{name} is not a w1c register")
        self._store[name] |= bits & self.regmap[name].mask

    def core_value(self, name: str) -> int:
        """Value the bank drives to the core for an rw, wo or w1c register."""
        return self._store[name]

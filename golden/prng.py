"""The hardware noise source: seeded xorshift32 lanes and the 4-byte Irwin-Hall Gaussian code.

This is the reference of docs/fixed-point.md section 5 and tests/vectors/prng.json pins its bit
stream. Every function but `seed_lanes` is a numba kernel that also runs from Python. Values are
32-bit words held in int64 (states in an int64 array) with explicit 32-bit masks: numba computes
scalar integers in int64, and mixing uint32 with int64 would silently promote to float64. No
product may exceed int64, so multiplications by 32-bit constants go through `_mul32`.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

MASK32 = 0xFFFFFFFF
GAUSS_SD = math.sqrt(4 * (256**2 - 1) / 12)  # sd of the sum of four uniform bytes: 147.80


@nb.njit(cache=True)
def _mul32(x: int, c: int) -> int:
    """x * c mod 2^32 for 32-bit x and c, by 16-bit halves of x so every product stays below 2^48."""
    lo = (x & 0xFFFF) * c
    hi = ((x >> 16) * c) & 0xFFFF
    return (lo + (hi << 16)) & MASK32


@nb.njit(cache=True)
def mix32(x: int) -> int:
    """lowbias32 hash of the low 32 bits of x (a bijection of 32-bit words; 0 maps to 0)."""
    x &= MASK32
    x ^= x >> 16
    x = _mul32(x, 0x7FEB352D)
    x ^= x >> 15
    x = _mul32(x, 0x846CA68B)
    x ^= x >> 16
    return x


@nb.njit(cache=True)
def xorshift32(x: int) -> int:
    """One xorshift32 step (13, 17, 5) of a 32-bit word; nonzero words stay nonzero."""
    x ^= (x << 13) & MASK32
    x ^= x >> 17
    x ^= (x << 5) & MASK32
    return x


@nb.njit(cache=True)
def lane_seed(seed: int, epoch: int, p: int) -> int:
    """Start state of lane p in an epoch: mix((seed*0x9E3779B1 + epoch*0x85EBCA77 + p*0xC2B2AE3D + 1) mod 2^32),
    or 1 where that is 0. Arguments are int64, taken mod 2^32."""
    h = (_mul32(seed & MASK32, 0x9E3779B1) + _mul32(epoch & MASK32, 0x85EBCA77)
         + _mul32(p & MASK32, 0xC2B2AE3D) + 1) & MASK32
    x = mix32(h)
    return x if x != 0 else 1


def seed_lanes(seed: int, epoch: int, lanes: int) -> np.ndarray:
    """States of the `lanes` noise generators and, at index `lanes`, the rounding generator (int64)."""
    if lanes < 0:
        raise ValueError(f"lanes must be >= 0, got {lanes}")
    return np.array([lane_seed(seed & MASK32, epoch & MASK32, p) for p in range(lanes + 1)], dtype=np.int64)


@nb.njit(cache=True)
def draw(state: np.ndarray, lane: int) -> int:
    """Advance generator `lane` of the int64 `state` array one step, in place, and return the new word."""
    x = xorshift32(state[lane])
    state[lane] = x
    return x


@nb.njit(cache=True)
def gauss_code(word: int) -> int:
    """The approximate Gaussian code of a word: sum of its four bytes minus 510 (mean 0, sd GAUSS_SD)."""
    return (word & 0xFF) + ((word >> 8) & 0xFF) + ((word >> 16) & 0xFF) + ((word >> 24) & 0xFF) - 510

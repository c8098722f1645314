"""Exact integer helpers of the fixed-point contract: saturation and rounded wide multiply-shift (numba)."""

from __future__ import annotations

import numba as nb

TRUNCATE, NEAREST, STOCHASTIC = 0, 1, 2
LIMIT = (1 << 62) - 1  # results beyond +-LIMIT saturate there (every format is narrower)
MAX_SHIFT = 92  # largest right shift mul_round takes (62 for stochastic rounding)
_M31 = (1 << 31) - 1


@nb.njit(cache=True, inline="always")
def sat(x: int, bits: int) -> int:
    """Clip a signed code to `bits` bits."""
    hi = (1 << (bits - 1)) - 1
    return min(max(x, -hi - 1), hi)


@nb.njit(cache=True, inline="always")
def usat(x: int, bits: int) -> int:
    """Clip a code to [0, 2^bits - 1]."""
    return min(max(x, 0), (1 << bits) - 1)


@nb.njit(cache=True)
def mul_round(a: int, m: int, s: int, mode: int, u: int) -> int:
    """round(a * m / 2^s) exactly, for |a| < 2^62, 0 <= m < 2^31, s <= MAX_SHIFT; saturates at +-LIMIT.

    mode: TRUNCATE (floor), NEAREST (half to even) or STOCHASTIC (floor after adding the dither
    u mod 2^s for s <= 32, u * 2^(s-32) for s > 32; u is a 32-bit random word). s < 0 shifts left.
    The product may need 93 bits, so it is kept as two limbs: hi * 2^31 + lo with 0 <= lo < 2^31.
    """
    al = a & _M31
    plo = al * m
    hi = (a >> 31) * m + (plo >> 31)
    lo = plo & _M31
    if s <= 0:
        if hi >= (1 << 31) or hi < -(1 << 31):
            return LIMIT if hi > 0 else -LIMIT
        v = (hi << 31) + lo
        if s < 0:
            if s < -62 or (v != 0 and abs(v) > (LIMIT >> -s)):
                return LIMIT if v > 0 else (-LIMIT if v < 0 else 0)
            v = v << -s
        return v
    if mode == STOCHASTIC:
        d = (u & ((1 << s) - 1)) if s <= 32 else (u << (s - 32))
        lo += d & _M31
        hi += (d >> 31) + (lo >> 31)
        lo &= _M31
    if s >= 31:
        k = s - 31
        q = hi >> k
        if mode == NEAREST:
            rh = hi - (q << k)  # remainder = rh * 2^31 + lo, compare with 2^(s-1)
            if k == 0:
                above, tie = lo > (1 << 30), lo == (1 << 30)
            else:
                half = 1 << (k - 1)
                above, tie = rh > half or (rh == half and lo > 0), rh == half and lo == 0
            if above or (tie and (q & 1) == 1):
                q += 1
        return q
    if hi >= (1 << (31 + s)) or hi < -(1 << (31 + s)):
        return LIMIT if hi > 0 else -LIMIT
    q = (hi << (31 - s)) + (lo >> s)
    if mode == NEAREST:
        r = lo & ((1 << s) - 1)
        half = 1 << (s - 1)
        if r > half or (r == half and (q & 1) == 1):
            q += 1
    return q



@nb.njit(cache=True, inline="always")
def mul_round_wide(a: int, m: int, s: int, nearest: bool) -> int:
    """mul_round for TRUNCATE/NEAREST when 32 <= s <= 92: the same result, without branches (vectorises)."""
    plo = (a & _M31) * m
    hi = (a >> 31) * m + (plo >> 31)
    lo = plo & _M31
    k = s - 31
    q = hi >> k
    if nearest:
        rh = hi - (q << k)
        half = 1 << (k - 1)
        q += (rh > half) | ((rh == half) & (lo > 0)) | ((rh == half) & (lo == 0) & (q & 1))
    return q

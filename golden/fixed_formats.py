"""Integer constants of the fixed-point contract, derived from the one config and checked once."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .config import Config, ConfigError, require
from .fixed_arith import MAX_SHIFT, NEAREST, STOCHASTIC, TRUNCATE
from .prng import GAUSS_SD

PIXEL_LEVELS = 256
MAX_MULTIPLIER_BITS = 31  # the exact wide multiply takes a factor below 2^31


def round_half_even(x: float) -> int:
    """Nearest integer, ties to even (Python's round)."""
    return int(round(x))


@dataclass(frozen=True)
class FixedConstants:
    """Every integer the fixed-point kernels need (docs/fixed-point.md names)."""

    Fv: int
    Fg: int
    Fr: int
    Fs: int
    v_bits: int
    vin_bits: int
    g_bits: int
    b_bits: int
    acc_bits: int
    recip_bits: int
    upd_bits: int
    round_v: int
    round_noise: int
    round_update: int
    lanes: int
    beta_g: int          # beta as a conductance code (F_g)
    beta_c: int          # beta as a current code (F_v + F_g)
    sn: int              # noise coefficient (F_v + F_s)
    vin_table: np.ndarray  # input-voltage code of each pixel value 0..255

    @property
    def shift_v(self) -> int:
        """Right shift after acc * r."""
        return self.Fg + self.Fr


ROUNDING_CODES = {"truncate": TRUNCATE, "nearest": NEAREST, "stochastic": STOCHASTIC}


def _pow2_exponent(x: float) -> int | None:
    """s with x == 2^-s exactly, else None."""
    m, e = math.frexp(x)
    return 1 - e if m == 0.5 else None


def derive(cfg: Config) -> FixedConstants:
    """Check the formats against the rest of the config and derive the constants; ConfigError names the problem."""
    fx = cfg.fixed
    need = require

    Fv, Fg, Fr, Fs = fx.v_frac, fx.g_frac, fx.recip_frac, fx.noise_frac
    need(fx.v_bits > Fv and fx.vin_bits > Fv, "fixed: v_bits and vin_bits must exceed v_frac (a sign bit is needed)")
    need(Fg + Fr <= 62, f"fixed: g_frac + recip_frac = {Fg + Fr} must be <= 62 (the reciprocal divider's dividend)")
    need(fx.recip_bits <= MAX_MULTIPLIER_BITS, f"fixed.recip_bits must be <= {MAX_MULTIPLIER_BITS}")
    need(fx.acc_bits > Fv + Fg, "fixed: acc_bits must exceed v_frac + g_frac (the accumulator's fraction)")
    need(fx.b_bits > Fv + Fg, "fixed: b_bits must exceed v_frac + g_frac (the bias's fraction)")
    fan = max(cfg.sizes)
    need(fx.g_bits + max(fx.v_bits, fx.vin_bits) + math.ceil(math.log2(2 * fan)) <= 63,
         f"fixed: g_bits + v_bits/vin_bits + log2(fan-in {fan}) must fit 63 bits (exact weighted sums)")
    drop = max(2 ** (fx.vin_bits - 1), 2 ** (fx.v_bits - 1)) + 2 ** (fx.v_bits - 1)  # largest |V_i - V_j|
    need(drop * drop * cfg.batch_size < 2 ** 62,
         "fixed: the update products of a batch (drop^2 * batch_size) must fit 62 bits; "
         "narrow v_bits/vin_bits or the batch")
    need(cfg.momentum == 0, "precision fixed: momentum must be 0 (the hardware has no velocity memory)")
    need(cfg.reading == "measurements",
         "precision fixed: reading must be 'measurements' (the hardware averages N measurements)")
    beta_g = cfg.beta * 2 ** Fg
    need(beta_g == int(beta_g), f"fixed: beta = {cfg.beta} is not a multiple of 2^-{Fg} (g_frac)")
    need(int(beta_g) << Fv < 2 ** (fx.acc_bits - 1),
         f"fixed: beta = {cfg.beta} as a current does not fit acc_bits = {fx.acc_bits}")
    vin = np.array([round_half_even(cfg.input_gain * p / 255 * 2 ** Fv) for p in range(PIXEL_LEVELS)], np.int64)
    need(vin[-1] < 2 ** (fx.vin_bits - 1),
         f"fixed: the largest input voltage {cfg.input_gain} needs more than vin_bits = {fx.vin_bits}")
    sn = round_half_even(cfg.sigma / (GAUSS_SD * cfg.samples) * 2 ** (Fv + Fs))
    need(sn < 2 ** MAX_MULTIPLIER_BITS, "fixed: sigma is too large for the noise coefficient (lower noise_frac)")
    need(cfg.sigma == 0 or sn > 0,
         f"fixed: sigma = {cfg.sigma:g} rounds to no noise with v_frac + noise_frac = {Fv + Fs}; raise noise_frac")
    consts = FixedConstants(
        Fv=Fv, Fg=Fg, Fr=Fr, Fs=Fs, v_bits=fx.v_bits, vin_bits=fx.vin_bits, g_bits=fx.g_bits, b_bits=fx.b_bits,
        acc_bits=fx.acc_bits, recip_bits=fx.recip_bits, upd_bits=fx.upd_bits,
        round_v=ROUNDING_CODES[fx.round_v], round_noise=ROUNDING_CODES[fx.round_noise],
        round_update=ROUNDING_CODES[fx.round_update], lanes=fx.noise_lanes,
        beta_g=int(beta_g), beta_c=int(beta_g) << Fv, sn=sn, vin_table=vin)
    for epoch in (0, cfg.epochs - 1):
        lr_codes(cfg, consts, epoch)
    return consts


def lr_codes(cfg: Config, consts: FixedConstants, epoch: int) -> tuple[np.ndarray, ...]:
    """Per weight layer l (index 1..): multiplier and right shift of the conductance and bias updates."""
    fx = cfg.fixed
    span = (2.0 if cfg.variant == "centered" else 1.0) * cfg.beta  # beta2 - beta1
    decay = cfg.lr_decay ** epoch
    n = len(cfg.sizes)
    k_w, s_w, k_b, s_b = (np.zeros(n, np.int64) for _ in range(4))
    for l in range(1, n):
        for kind, lr, factor, k, s in (("lr_weights", cfg.lr_weights[l - 1], 2 * span * cfg.batch_size, k_w, s_w),
                                       ("lr_biases", cfg.lr_biases[l - 1], span * cfg.batch_size, k_b, s_b)):
            value = lr * decay / factor
            if value == 0:
                code, frac = 0, fx.lr_frac
            elif fx.lr_mode == "shift":
                if cfg.lr_decay != 1:
                    raise ConfigError("fixed.lr_mode shift needs lr_decay = 1 (a decayed factor is no longer a "
                                      "constant shift); use lr_mode multiply")
                frac = _pow2_exponent(value)
                if frac is None:
                    raise ConfigError(
                        f"fixed.lr_mode shift: {kind}[{l - 1}] / ({factor:g}) = {value:g} is not a power of two; "
                        "use lr_mode multiply or a power-of-two learning rate")
                code = 1
            else:
                frac = fx.lr_frac
                code = round_half_even(value * 2 ** frac)
                at = f"{kind}[{l - 1}] = {lr:g} (x lr_decay^{epoch} in epoch {epoch + 1})"
                if code == 0:
                    raise ConfigError(f"fixed: {at} rounds to 0 with lr_frac = {frac}; raise lr_frac")
                if code >= 2 ** MAX_MULTIPLIER_BITS:
                    raise ConfigError(f"fixed: {at} needs more than 31 bits; lower lr_frac")
            k[l] = code
            # A has fraction 2F_v, k has F_k: to F_g.  Q has F_v, k_b has F_k: to F_v + F_g.
            s[l] = (2 * consts.Fv + frac - consts.Fg) if kind == "lr_weights" else (frac - consts.Fg)
            limit = 62 if fx.round_update == "stochastic" else MAX_SHIFT
            if s[l] > limit:
                raise ConfigError(f"fixed: the {kind}[{l - 1}] update needs a right shift of {s[l]} bits, more than "
                                  f"{limit}; lower lr_frac or v_frac")
    return k_w, s_w, k_b, s_b

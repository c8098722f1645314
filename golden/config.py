"""The one run config: network, EP, noise, training and data settings, with presets and validation."""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np


class ConfigError(ValueError):
    """A config that cannot be run; the message is one line meant for the user."""


def require(ok: bool, message: str) -> None:
    """Raise ConfigError(message) unless ok."""
    if not ok:
        raise ConfigError(message)


# Sizes beyond these are mistakes, not experiments: they would exhaust memory or never finish.
MAX_UNITS = 1 << 16
MAX_BATCH = 1 << 16
MAX_SAMPLES = 1 << 12
MAX_SWEEPS = 1 << 12
MAX_EPOCHS = 1 << 16


SWEEP_ORDERS = ("alternating", "forward", "backward")
VARIANTS = ("centered", "positive")
NOISE_READINGS = ("measurements", "updates")
DTYPES = ("float32", "float64")
PRECISIONS = ("float", "fixed")
ROUNDINGS = ("truncate", "nearest", "stochastic")
LR_MODES = ("multiply", "shift")
INPUT_PIXELS = 784
OUTPUT_UNITS = 10


@dataclass
class Fixed:
    """Number formats and rounding of the fixed-point model and hardware (docs/fixed-point.md)."""

    v_frac: int = 14        # F_v: fraction bits of every voltage
    v_bits: int = 28        # node voltages (signed; +-8192 covers DRN-3H's input gain)
    vin_bits: int = 28      # clamped input voltages (signed)
    g_frac: int = 20        # F_g: fraction bits of conductances
    g_bits: int = 22        # conductances (unsigned, below 4)
    b_bits: int = 48        # biases (signed, fraction F_v + F_g)
    acc_bits: int = 56      # weighted-sum accumulators (signed, fraction F_v + F_g)
    recip_frac: int = 24    # F_r: fraction bits of 1/den
    recip_bits: int = 28    # reciprocals (unsigned)
    noise_frac: int = 16    # F_s: extra fraction bits of the noise coefficient
    upd_bits: int = 62      # batch update accumulators (signed, fraction 2 F_v)
    lr_frac: int = 24       # F_k: fraction bits of the learning-rate factors (multiply mode)
    lr_mode: str = "multiply"
    round_v: str = "nearest"
    round_noise: str = "nearest"
    round_update: str = "nearest"
    noise_lanes: int = 16

    def validate(self) -> None:
        """Check each format on its own; combinations with the rest of the config are checked in fixed_formats."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_bits"):
                require(2 <= value <= 62, f"fixed.{f.name} must be between 2 and 62, got {value}")
            elif f.name.endswith("_frac"):
                require(0 <= value <= 61, f"fixed.{f.name} must be between 0 and 61, got {value}")
        require(1 <= self.noise_lanes <= 1024, f"fixed.noise_lanes must be between 1 and 1024, got {self.noise_lanes}")
        for name, choices in (("lr_mode", LR_MODES), ("round_v", ROUNDINGS), ("round_noise", ROUNDINGS),
                              ("round_update", ROUNDINGS)):
            require(getattr(self, name) in choices,
                    f"fixed.{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
        for name in ("round_v", "round_noise"):
            require(getattr(self, name) != "stochastic",
                    f"fixed.{name}: stochastic rounding is only available for the update (round_update)")


@dataclass
class Config:
    """Everything that defines a run; stored whole in every metrics.json."""

    model: str = "drn-xs"
    # network
    hidden: list[int] = field(default_factory=lambda: [100])
    input_gain: float = 100.0
    weight_gain: float = 1.0
    # equilibrium propagation
    beta: float = 1.0
    sweeps: int = 4
    sweeps_eval: int = 4
    order: str = "alternating"
    variant: str = "centered"
    warm_start: bool = True
    # measurement noise on the voltages used by the update
    sigma: float = 0.0
    samples: int = 1
    reading: str = "measurements"
    # training
    batch_size: int = 4
    epochs: int = 10
    lr_weights: list[float] = field(default_factory=lambda: [0.006, 0.006])
    lr_biases: list[float] = field(default_factory=lambda: [0.006, 0.006])
    momentum: float = 0.0
    lr_decay: float = 0.99
    dtype: str = "float32"
    precision: str = "float"
    fixed: Fixed = field(default_factory=Fixed)
    seed: int = 0
    # data
    dataset: str = "mnist-subset"
    data_dir: str | None = None

    @property
    def sizes(self) -> list[int]:
        """Layer sizes from the clamped input (pixels and their negated copies) to the output."""
        return [2 * INPUT_PIXELS, *self.hidden, OUTPUT_UNITS]

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (JSON and TOML friendly)."""
        return dataclasses.asdict(self)

    def validate(self) -> "Config":
        """Check every field once; raise ConfigError naming the first problem."""
        need = require
        for f in fields(self):
            values = getattr(self, f.name)
            for v in values if isinstance(values, list) else [values]:
                need(not isinstance(v, float) or math.isfinite(v), f"{f.name} must be a finite number, got {v}")
        need(len(self.hidden) >= 1, "hidden: at least one hidden layer is needed")
        for n in self.hidden:
            need(isinstance(n, int) and 2 <= n <= MAX_UNITS and n % 2 == 0,
                 f"hidden: layer size {n!r} must be an even integer from 2 to {MAX_UNITS} "
                 "(half excitatory, half inhibitory)")
        nparam = len(self.hidden) + 1
        for name in ("lr_weights", "lr_biases"):
            lrs = getattr(self, name)
            need(len(lrs) == nparam,
                 f"{name}: {len(lrs)} values given, the network has {nparam} weight layers")
            need(all(lr >= 0 for lr in lrs), f"{name}: learning rates must be >= 0")
        need(self.input_gain > 0, f"input_gain must be > 0, got {self.input_gain}")
        need(self.weight_gain > 0, f"weight_gain must be > 0, got {self.weight_gain}")
        need(self.beta > 0, f"beta must be > 0, got {self.beta}")
        need(1 <= self.sweeps <= MAX_SWEEPS, f"sweeps must be from 1 to {MAX_SWEEPS}, got {self.sweeps}")
        need(1 <= self.sweeps_eval <= MAX_SWEEPS, f"sweeps_eval must be from 1 to {MAX_SWEEPS}, got {self.sweeps_eval}")
        need(self.order in SWEEP_ORDERS, f"order must be one of {', '.join(SWEEP_ORDERS)}, got {self.order!r}")
        need(self.variant in VARIANTS, f"variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        need(self.sigma >= 0, f"sigma must be >= 0, got {self.sigma}")
        need(self.samples >= 1, f"samples (N) must be >= 1, got {self.samples}")
        need(self.samples <= MAX_SAMPLES, f"samples (N) must be <= {MAX_SAMPLES}, got {self.samples}")
        need(self.reading in NOISE_READINGS,
             f"reading must be one of {', '.join(NOISE_READINGS)}, got {self.reading!r}")
        need(1 <= self.batch_size <= MAX_BATCH, f"batch_size must be from 1 to {MAX_BATCH}, got {self.batch_size}")
        need(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        need(self.epochs <= MAX_EPOCHS, f"epochs must be <= {MAX_EPOCHS}, got {self.epochs}")
        need(0 <= self.momentum < 1, f"momentum must be in [0, 1), got {self.momentum}")
        need(0 < self.lr_decay <= 1, f"lr_decay must be in (0, 1], got {self.lr_decay}")
        need(self.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        noise = self.sigma / math.sqrt(self.samples) if self.reading == "measurements" else self.sigma
        need(self.sigma == 0 or np.dtype(self.dtype).type(noise) > 0,
             f"sigma = {self.sigma:g} is below what {self.dtype} can represent; use dtype float64")
        need(0 <= self.seed < 2 ** 32, f"seed must be in [0, 2^32), got {self.seed}")
        need(self.precision in PRECISIONS,
             f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        self.fixed.validate()
        if self.precision == "fixed":
            from .fixed_formats import derive  # the combinations need the derived constants
            derive(self)
        return self


def _preset(hidden: list[int], gain: float, sweeps: int, beta: float, lrs: list[float],
            batch: int, epochs: int, momentum: float, bias_div: float = 1.0) -> Config:
    return Config(hidden=hidden, input_gain=gain, sweeps=sweeps, sweeps_eval=sweeps, beta=beta,
                  lr_weights=lrs, lr_biases=[lr / bias_div for lr in lrs], batch_size=batch,
                  epochs=epochs, momentum=momentum)


# The DRN reference settings (Scellier 2024; ../shared/docs/model.md section 5), MNIST input gains.
PRESETS: dict[str, Config] = {
    "drn-xs": _preset([100], 100.0, 4, 1.0, [0.006, 0.006], 4, 10, 0.0),
    "drn-1h": _preset([1024], 480.0, 4, 0.5, [0.005, 0.005], 32, 100, 0.9),
    "drn-2h": _preset([1024, 1024], 2000.0, 5, 1.0, [0.002, 0.006, 0.005], 32, 100, 0.9),
    "drn-3h": _preset([1024, 1024, 1024], 4000.0, 6, 2.0, [0.005, 0.02, 0.08, 0.005], 32, 100, 0.9,
                      bias_div=10.0),
}
# Input gains for KMNIST and Fashion-MNIST (model.md): the presets above are for MNIST.
OTHER_DATASET_GAIN = {"drn-xs": 100.0, "drn-1h": 300.0, "drn-2h": 1250.0, "drn-3h": 2500.0}


def preset(name: str, dataset: str | None = None) -> Config:
    """A fresh copy of a named preset, with the input gain that model.md gives for the dataset."""
    if name not in PRESETS:
        raise ConfigError(f"unknown model preset {name!r}; choose one of {', '.join(PRESETS)}")
    cfg = dataclasses.replace(PRESETS[name], model=name, fixed=Fixed())
    cfg.hidden, cfg.lr_weights, cfg.lr_biases = list(cfg.hidden), list(cfg.lr_weights), list(cfg.lr_biases)
    if dataset is not None and not dataset.startswith("mnist"):
        cfg.input_gain = OTHER_DATASET_GAIN[name]
    return cfg


_CHECKS = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "str | None": lambda v: v is None or isinstance(v, str),
    "list[int]": lambda v: isinstance(v, list) and all(_CHECKS["int"](x) for x in v),
    "list[float]": lambda v: isinstance(v, list) and all(_CHECKS["float"](x) for x in v),
    "Fixed": lambda v: isinstance(v, dict),
}


def apply(cfg: Any, values: dict[str, Any], origin: str, prefix: str = "") -> Any:
    """Override fields of `cfg` (a Config or Fixed) from a mapping, checking names and types; returns `cfg`."""
    types = {f.name: f.type for f in fields(cfg)}
    for key, value in values.items():
        if key not in types:
            raise ConfigError(f"{origin}: unknown setting '{prefix}{key}'")
        want = types[key]
        if not _CHECKS[want](value):
            raise ConfigError(f"{origin}: {prefix}{key} must be {'a table' if want == 'Fixed' else want}, got {value!r}")
        if want == "Fixed":
            apply(cfg.fixed, value, origin, "fixed.")
            continue
        if want == "float":
            value = float(value)
        elif want == "list[float]":
            value = [float(v) for v in value]
        setattr(cfg, key, value)
    return cfg


# What the hardware core trains: fixed point, online (one sample per update), no momentum memory.
HARDWARE = {"precision": "fixed", "batch_size": 1, "momentum": 0.0}


RUN_OPTIONS = ("lanes", "train_samples", "test_samples")  # a config file's [run] table: how a run uses the config


def read_file(config_file: str | Path) -> tuple[dict[str, Any], dict[str, int]]:
    """A TOML config file's settings and its [run] options (RUN_OPTIONS, each a whole number >= 1), one
    ConfigError line for a file that is missing, unreadable or not TOML."""
    path = Path(config_file)
    try:
        values = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"config file {path} cannot be read: {e.strerror}") from None
    run = values.pop("run", {})
    require(isinstance(run, dict), f"{path}: run must be a table, got {run!r}")
    for key, value in run.items():
        require(key in RUN_OPTIONS, f"{path}: unknown setting 'run.{key}' (run takes {', '.join(RUN_OPTIONS)})")
        require(_CHECKS["int"](value) and value >= 1, f"{path}: run.{key} must be a whole number >= 1, got {value!r}")
    return values, run


def run_options(config_file: str | Path | None) -> dict[str, int]:
    """The [run] options of a config file (none without one): defaults of the command line's --lanes,
    --train-samples and --test-samples."""
    return {} if config_file is None else read_file(config_file)[1]


def load(model: str | None = None, config_file: str | Path | None = None,
         overrides: dict[str, Any] | None = None, hardware: bool = False) -> Config:
    """Resolve a config: preset (or a TOML file's `model`), then HARDWARE if `hardware`, then the TOML
    file (its [run] options are `run_options`' concern), then overrides (so a file or the command line can still
    ask for what the core cannot do, and is told so by the one who checks)."""
    file_values = {} if config_file is None else read_file(config_file)[0]
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    for key, value in (("model", file_values.get("model")), ("dataset", file_values.get("dataset"))):
        require(value is None or isinstance(value, str), f"{config_file}: {key} must be str, got {value!r}")
    name = model or file_values.pop("model", None) or "drn-xs"
    file_values.pop("model", None)
    dataset = overrides.get("dataset") or file_values.get("dataset")
    cfg = preset(name, dataset)
    if hardware:
        apply(cfg, HARDWARE, "hardware defaults")
    apply(cfg, file_values, str(config_file))
    apply(cfg, overrides, "command line")
    return cfg.validate()

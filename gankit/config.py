"""One typed configuration for a training run, with presets and strict loading.

Every key is a field of :class:`Config`, documented on its own line below.
Keys left as ``None`` are filled from the presets when the config is built,
the first source that has the key winning:

    what you set
    NAMED_PRESETS[preset]                 (e.g. preset=mnist5k-wgan-gp)
    DATA_PRESETS[(data, objective)]       (e.g. the ring and the grid apart)
    TOY_PRESETS / IMAGE_PRESETS[objective] (by the kind of `data`)
    KIND_DEFAULTS[kind]                    (toy: MLP; image: DCGAN, EMA, grids)
    PAPER_PRESETS[objective]
    BASE_DEFAULTS

``PAPER_PRESETS`` are the defaults of each objective's paper
(docs/theory.md §3, §6); ``TOY_PRESETS`` are the values that work on the
low-dimensional data of ``gankit.data.toy`` (docs/presets.md says why they
differ). A config can be built in Python (``Config(objective="wgan")``), from
a TOML file, and from ``key=value`` overrides; all three paths validate every
key, type and range up front and raise :class:`~gankit.errors.ConfigError`
with one line naming the key, the bad value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, get_args, get_type_hints

from gankit.data.images import BUILTIN_NAMES
from gankit.data.toy import TOY_DATASETS
from gankit.errors import ConfigError
from gankit.objectives import OBJECTIVE_NAMES


def _doc(text: str, default: Any = None) -> Any:
    return field(default=default, metadata={"help": text})


@dataclass
class Config:
    # --- the game ----------------------------------------------------------
    preset: str = _doc("a named preset (see `gankit keys --presets`), applied under your own keys", "")
    objective: str | None = _doc("gan | ns-gan | wgan | wgan-gp (docs/theory.md §1, §4, §5, §6)")
    data: str | None = _doc("toy: ring8 | grid25 | spiral | mog1d; images: digits | mnist5k | a file or folder")
    n_train: int = _doc("size of a fixed training set; 0 = a fresh sample for every batch", 0)
    seed: int = _doc("seeds every random number of the run (weights, data, noise)", 0)
    # --- the double loop (§3) -------------------------------------------------
    iterations: int | None = _doc("generator steps in the run (0 = build everything, train nothing)")
    batch_size: int | None = _doc("m: real and fake samples per step")
    d_steps: int | None = _doc("k: discriminator steps before each round of generator steps")
    g_steps: int | None = _doc("generator steps per round (each round counts g_steps iterations)")
    warmup_iterations: int = _doc("the first N iterations use warmup_d_steps critic steps (WGAN code: 25)", 0)
    warmup_d_steps: int = _doc("critic steps per round during warm-up (WGAN code: 100)", 100)
    # --- optimisers -----------------------------------------------------------
    optimizer: str | None = _doc("adam | rmsprop | sgd, for both networks")
    lr_d: float | None = _doc("discriminator / critic learning rate")
    lr_g: float | None = _doc("generator learning rate")
    beta1: float | None = _doc("Adam β1 (ignored by rmsprop and sgd)")
    beta2: float | None = _doc("Adam β2 (ignored by rmsprop and sgd)")
    lr_schedule: str | None = _doc("constant | linear: both learning rates decay linearly to lr_final_fraction × their value over `iterations`")
    lr_final_fraction: float | None = _doc("lr_schedule=linear: the learning rates at the last iteration, as a fraction of lr_d and lr_g")
    # --- Lipschitz constraint (§6) --------------------------------------------
    clip: float | None = _doc("wgan only: clamp critic weights to [-clip, clip] after each critic step")
    lambda_gp: float | None = _doc("wgan-gp only: weight λ of the gradient penalty")
    penalty: str | None = _doc("wgan-gp only: two-sided (‖∇D‖-1)² | one-sided max(0, ‖∇D‖-1)²")
    spectral_norm: bool | None = _doc("spectrally normalise every layer of D (default false)")
    # --- networks -------------------------------------------------------------
    z_dim: int | None = _doc("dimension of the noise z")
    z_dist: str = _doc("distribution of z: normal | uniform (on [-1, 1])", "normal")
    g_hidden: int | None = _doc("units per hidden layer of the MLP generator")
    g_layers: int | None = _doc("hidden layers of the MLP generator")
    d_hidden: int | None = _doc("units per hidden layer of the MLP discriminator")
    d_layers: int | None = _doc("hidden layers of the MLP discriminator")
    activation: str | None = _doc("hidden activation: relu | leaky_relu | tanh | elu | gelu")
    # --- images -----------------------------------------------------------------
    image_size: int = _doc("images: resize and centre-crop to this size (28, 32 or 64); 0 = the data's own", 0)
    channels: int = _doc("images: 1 (grayscale) or 3 (RGB); 0 = the data's own", 0)
    flip: bool = _doc("images: random horizontal flips of real batches", False)
    skip_corrupt: bool = _doc("image folders: skip unreadable files (counted in summary.json) instead of failing", False)
    net: str | None = _doc("mlp (toy data) | dcgan | resnet (32×32 images)")
    width: int | None = _doc("images: base channel width of the conv nets")
    d_norm: str | None = _doc("images: normalisation in D: batch | layer | none (no batch norm under a penalty, §6)")
    ema_decay: float | None = _doc("decay of the generator's moving average used for sampling, ramped up as "
                                   "min(decay, (1+t)/(10+t)) over its first updates t; 0 = off")
    ema_start: int | None = _doc("iterations before the average starts (it copies the weights until then)")
    sample_every: int | None = _doc("images: iterations between grids of one fixed noise batch; 0 = final grid only")
    # --- bookkeeping ----------------------------------------------------------
    log_every: int = _doc("iterations between statistics (one host sync each) and metrics.jsonl lines", 50)
    eval_samples: int = _doc("generated samples for the final toy metrics (≥ 2,500 per PacGAN)", 2500)
    eval_every: int = _doc("iterations between metrics during training (a multiple of log_every); 0 = off", 0)
    eval_n: int = _doc("samples for each eval_every evaluation", 1000)
    eval_metrics: str = _doc("images: comma-separated metric families for eval_every: fd, kid, pr, dc", "fd")
    best_metric: str = _doc("the metric that picks best.pt: w1 | jsd | hq_fraction | fd | kid | ... "
                            "(empty: w1 for toy data, fd for images)", "")
    device: str = _doc("auto | cpu | cuda (auto: cuda when available)", "auto")
    precision: str = _doc("fp32 | bf16 | auto (autocast; bf16 needs CUDA or a CPU with bf16 support; "
                          "auto: bf16 where docs/scaling.md measured it faster)", "fp32")
    channels_last: str = _doc("conv nets: off | on | auto: NHWC memory format for the nets and batches "
                              "(auto: where docs/scaling.md measured it faster)", "off")
    logger: str = _doc("jsonl | tensorboard (also RUN/tensorboard/; metrics.jsonl is always written)", "jsonl")
    frame_every: int | None = _doc("2-D toy data: iterations between animation frames (default iterations/20); 0 = off")
    # --- reliability (docs/reliability.md) ------------------------------------
    checkpoint_every: int = _doc("iterations between checkpoints, a multiple of log_every; 0 = at the end and on SIGINT/SIGTERM only", 0)
    keep: int = _doc("checkpoints kept: checkpoint.pt is the latest, the keep-1 before it are checkpoint-<iteration>.pt", 1)
    on_nan: str = _doc("a non-finite loss or gradient: stop | rollback (to the last good state, learning rates × rollback_lr_factor)", "stop")
    rollback_lr_factor: float = _doc("on_nan=rollback: multiply both learning rates by this at each rollback", 0.5)
    rollback_tries: int = _doc("on_nan=rollback: rollbacks allowed in a run before it stops", 3)

    def __post_init__(self) -> None:
        _check_types(self)
        if self.preset:
            _check_choice("preset", self.preset, tuple(NAMED_PRESETS))
            self._fill(NAMED_PRESETS[self.preset])
        self._fill({"objective": DEFAULT_OBJECTIVE, "data": "ring8"})
        _check_choice("objective", self.objective, OBJECTIVE_NAMES)
        _check_conflicts(self)
        kind = data_kind(self.data)
        kind_presets = TOY_PRESETS if kind == "toy" else IMAGE_PRESETS
        data_presets = DATA_PRESETS.get((self.data, self.objective), {})
        for source in (data_presets, kind_presets[self.objective], KIND_DEFAULTS[kind], PAPER_PRESETS[self.objective], BASE_DEFAULTS):
            self._fill(source)
        if self.frame_every is None:  # about 20 frames of a 2-D toy run (gankit.report.frames)
            self.frame_every = max(1, self.iterations // 20) if _is_2d_toy(self.data) and self.iterations else 0
        _check_values(self)

    def _fill(self, source: dict[str, Any]) -> None:
        """Set the keys of ``source`` that are still unset."""
        for key, value in source.items():
            if getattr(self, key) is None:
                setattr(self, key, value)

    # -- views -------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """'toy' for the low-dimensional distributions, 'image' for image data."""
        return data_kind(self.data)

    @property
    def schedule(self) -> "Schedule":
        return Schedule(self.d_steps, self.g_steps, self.warmup_iterations, self.warmup_d_steps)

    def to_dict(self) -> dict[str, Any]:
        """The resolved config; keys that do not apply to the objective (None) are left out."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    def to_toml(self) -> str:
        return "".join(f"{k} = {_toml_value(v)}\n" for k, v in self.to_dict().items())

    def replace(self, **changes: Any) -> "Config":
        return build_config({**self.to_dict(), **changes})


class Schedule(NamedTuple):
    """The k-step schedule of the double loop (docs/theory.md §3), as a value.

    Each round runs ``d_steps_at(iteration)`` discriminator steps and then
    ``g_steps`` generator steps; the discriminator goes first.
    """

    d_steps: int
    g_steps: int
    warmup_iterations: int = 0
    warmup_d_steps: int = 100

    def d_steps_at(self, iteration: int) -> int:
        return self.warmup_d_steps if iteration < self.warmup_iterations else self.d_steps


# ----------------------------------------------------------------------------
# presets
# ----------------------------------------------------------------------------
BASE_DEFAULTS: dict[str, Any] = dict(
    iterations=2000, batch_size=256, d_steps=1, g_steps=1, optimizer="adam",
    lr_d=2e-4, lr_g=2e-4, beta1=0.5, beta2=0.999, lr_schedule="constant", lr_final_fraction=0.0, ema_start=0, spectral_norm=False,
    z_dim=2, g_hidden=128, g_layers=3, d_hidden=128, d_layers=3, activation="relu",
)

#: Each objective's defaults as published (docs/theory.md §3, §6).
PAPER_PRESETS: dict[str, dict[str, Any]] = {
    "gan": dict(d_steps=1, optimizer="adam", lr_d=2e-4, lr_g=2e-4, beta1=0.5, beta2=0.999),
    "ns-gan": dict(d_steps=1, optimizer="adam", lr_d=2e-4, lr_g=2e-4, beta1=0.5, beta2=0.999),
    "wgan": dict(d_steps=5, optimizer="rmsprop", lr_d=5e-5, lr_g=5e-5, clip=0.01),
    "wgan-gp": dict(d_steps=5, optimizer="adam", lr_d=1e-4, lr_g=1e-4, beta1=0.0, beta2=0.9,
                    lambda_gp=10.0, penalty="two-sided"),
}

#: Values that work on the toy data (docs/presets.md explains each one).
TOY_PRESETS: dict[str, dict[str, Any]] = {
    # 128×3 nets; D twice as fast as G (lr 1e-3 / 5e-4) keeps every ring mode; the final
    # samples come from a short moving average of G (decay 0.99), which removes Adam's jitter.
    "gan": dict(iterations=4000, lr_d=1e-3, lr_g=5e-4, g_hidden=128, d_hidden=128, ema_decay=0.99),
    "ns-gan": dict(iterations=4000, lr_d=1e-3, lr_g=5e-4, g_hidden=128, d_hidden=128, ema_decay=0.99),
    # Clipping: the paper's c and k, a 10x larger RMSProp step so 3,000 iterations move.
    "wgan": dict(iterations=3000, lr_d=5e-4, lr_g=5e-4, g_hidden=64, d_hidden=64, ema_decay=0.99),
    # The WGAN-GP toy code's λ = 0.1; k = 2 and 64×3 nets keep the double backward cheap.
    "wgan-gp": dict(iterations=6000, d_steps=2, lr_d=2e-4, lr_g=2e-4, beta1=0.5,
                    g_hidden=64, d_hidden=64, lambda_gp=0.1, ema_decay=0.99),
}

#: The objective of a bare `gankit train`: the best on the toy benchmarks (docs/benchmarks.md).
DEFAULT_OBJECTIVE = "ns-gan"

#: Values for one dataset and objective, over TOY_PRESETS / IMAGE_PRESETS (docs/presets.md).
DATA_PRESETS: dict[tuple[str, str], dict[str, Any]] = {
    # The ring's modes are 0.01 wide: a constant rate leaves G jittering by about a mode's width.
    # Twice the rates (2e-3 / 1e-3) decayed linearly to 0 over 8,000 steps land it (94 -> 98 % HQ,
    # seed 0), so no moving average is needed.
    ("ring8", "ns-gan"): dict(iterations=8000, lr_d=2e-3, lr_g=1e-3, lr_schedule="linear", ema_decay=0.0),
    # The grid: a spectrally normalised D keeps all 25 modes (14-16 without); the linear decay
    # sharpens them (25 % -> 52 % HQ, seed 0) but not to the ring's precision within the budget.
    ("grid25", "ns-gan"): dict(iterations=8000, spectral_norm=True, lr_schedule="linear"),
}

#: Defaults by kind of data: toy runs use MLPs and no grids; images DCGANs, EMA and grids.
KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    "toy": dict(net="mlp", ema_decay=0.0, sample_every=0, width=64, d_norm="none"),
    "image": dict(net="dcgan", batch_size=64, z_dim=100, width=64, ema_decay=0.999, sample_every=250,
                  iterations=2000),
}

#: Values for image data (DCGAN-style nets). No batch norm in a penalised critic (§6).
IMAGE_PRESETS: dict[str, dict[str, Any]] = {
    "gan": dict(d_norm="batch"),
    "ns-gan": dict(d_norm="batch"),
    "wgan": dict(d_norm="batch"),
    "wgan-gp": dict(d_norm="layer"),
}

#: Named presets: a dataset, an objective and the budget that suits them on a CPU.
NAMED_PRESETS: dict[str, dict[str, Any]] = {
    "ring8-wgan-gp": dict(data="ring8", objective="wgan-gp"),
    "grid25-wgan-gp": dict(data="grid25", objective="wgan-gp"),
    "digits-ns-gan": dict(data="digits", objective="ns-gan", image_size=32, width=32, iterations=1500),
    "mnist5k-ns-gan": dict(data="mnist5k", objective="ns-gan", width=32, iterations=3000),
    "mnist5k-wgan-gp": dict(data="mnist5k", objective="wgan-gp", width=32, iterations=2000),
}

# Keys that only some objectives use; setting one for another objective is a conflict.
_OBJECTIVE_ONLY = {"clip": ("wgan",), "lambda_gp": ("wgan-gp",), "penalty": ("wgan-gp",)}

_CHOICES = {
    "optimizer": ("adam", "rmsprop", "sgd"),
    "penalty": ("two-sided", "one-sided"),
    "z_dist": ("normal", "uniform"),
    "activation": ("relu", "leaky_relu", "tanh", "elu", "gelu"),
    "device": ("auto", "cpu", "cuda"),
    "precision": ("fp32", "bf16", "auto"),
    "channels_last": ("off", "on", "auto"),
    "logger": ("jsonl", "tensorboard"),
    "net": ("mlp", "dcgan", "resnet"),
    "d_norm": ("batch", "layer", "none"),
    "on_nan": ("stop", "rollback"),
    "lr_schedule": ("constant", "linear"),
}

# (test, what is allowed) for every numeric key with a range.
_RANGES = {
    "n_train": (lambda v: v >= 0, "an integer >= 0"),
    "iterations": (lambda v: v >= 0, "an integer >= 0"),
    "batch_size": (lambda v: v >= 1, "an integer >= 1"),
    "d_steps": (lambda v: v >= 1, "an integer >= 1"),
    "g_steps": (lambda v: v >= 1, "an integer >= 1"),
    "warmup_iterations": (lambda v: v >= 0, "an integer >= 0"),
    "warmup_d_steps": (lambda v: v >= 1, "an integer >= 1"),
    "lr_d": (lambda v: v > 0, "a number > 0"),
    "lr_g": (lambda v: v > 0, "a number > 0"),
    "beta1": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "beta2": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "lr_final_fraction": (lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "clip": (lambda v: v > 0, "a number > 0"),
    "lambda_gp": (lambda v: v >= 0, "a number >= 0"),
    "z_dim": (lambda v: v >= 1, "an integer >= 1"),
    "g_hidden": (lambda v: v >= 1, "an integer >= 1"),
    "g_layers": (lambda v: v >= 0, "an integer >= 0"),
    "d_hidden": (lambda v: v >= 1, "an integer >= 1"),
    "d_layers": (lambda v: v >= 0, "an integer >= 0"),
    "log_every": (lambda v: v >= 1, "an integer >= 1"),
    "eval_samples": (lambda v: v >= 2, "an integer >= 2"),
    "eval_every": (lambda v: v >= 0, "an integer >= 0"),
    "eval_n": (lambda v: v >= 10, "an integer >= 10"),
    "image_size": (lambda v: v in (0, 28, 32, 64), "0, 28, 32 or 64"),
    "channels": (lambda v: v in (0, 1, 3), "0, 1 or 3"),
    "width": (lambda v: v >= 1, "an integer >= 1"),
    "ema_decay": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "ema_start": (lambda v: v >= 0, "an integer >= 0"),
    "sample_every": (lambda v: v >= 0, "an integer >= 0"),
    "frame_every": (lambda v: v >= 0, "an integer >= 0"),
    "seed": (lambda v: 0 <= v < 2**63, "an integer in [0, 2**63)"),
    "checkpoint_every": (lambda v: v >= 0, "an integer >= 0"),
    "keep": (lambda v: v >= 1, "an integer >= 1"),
    "rollback_lr_factor": (lambda v: 0 < v <= 1, "a number in (0, 1]"),
    "rollback_tries": (lambda v: v >= 0, "an integer >= 0"),
}


TOY_NAMES = tuple(TOY_DATASETS)
IMAGE_NAMES = tuple(BUILTIN_NAMES)


def data_kind(data: str) -> str:
    """'toy' for a built-in toy distribution, 'image' for anything else."""
    return "toy" if data in TOY_NAMES else "image"


@functools.cache
def _is_2d_toy(data: str) -> bool:
    """True for the 2-D toy distributions (the ones that get an animation)."""
    return data in TOY_NAMES and TOY_DATASETS[data]().dim == 2


# ----------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------
def _field_types() -> dict[str, type]:
    hints = get_type_hints(Config)
    out = {}
    for f in dataclasses.fields(Config):
        types = [t for t in get_args(hints[f.name]) if t is not type(None)] or [hints[f.name]]
        out[f.name] = types[0]
    return out


def _type_word(t: type) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[t]


def _check_types(cfg: Config) -> None:
    for key, t in FIELD_TYPES.items():
        v = getattr(cfg, key)
        if v is None:
            if _DEFAULTS[key] is not None:  # only preset-filled keys may be left unset
                raise ConfigError(f"config key '{key}': got None, expected {_type_word(t)}")
            continue
        if t is float and isinstance(v, int) and not isinstance(v, bool):
            if abs(v) > 2**1000:
                raise ConfigError(f"config key '{key}': got an integer of {len(str(abs(v)))} digits, expected a finite number")
            setattr(cfg, key, float(v))
            continue
        ok = isinstance(v, t) and not (t is int and isinstance(v, bool))
        if not ok:
            raise ConfigError(f"config key '{key}': got {v!r}, expected {_type_word(t)}")
        if t is float and not math.isfinite(v):
            raise ConfigError(f"config key '{key}': got {v!r}, expected a finite number")


def _check_choice(key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"config key '{key}': got {value!r}, expected one of {', '.join(allowed)}")


def _check_conflicts(cfg: Config) -> None:
    for key, objectives in _OBJECTIVE_ONLY.items():
        if getattr(cfg, key) is not None and cfg.objective not in objectives:
            raise ConfigError(
                f"config key '{key}': applies only to objective={'/'.join(objectives)}, "
                f"not {cfg.objective}; remove it or set objective={objectives[0]}"
            )


def _check_values(cfg: Config) -> None:
    for key, allowed in _CHOICES.items():
        if getattr(cfg, key) is not None:
            _check_choice(key, getattr(cfg, key), allowed)
    if cfg.data not in TOY_NAMES + IMAGE_NAMES and not Path(cfg.data).exists():
        raise ConfigError(
            f"config key 'data': {cfg.data!r} is neither a built-in dataset "
            f"({', '.join(TOY_NAMES + IMAGE_NAMES)}) nor an existing file or folder"
        )
    if cfg.kind == "toy" and cfg.net != "mlp":
        raise ConfigError(f"config key 'net': toy data {cfg.data} needs net=mlp, got {cfg.net!r}")
    if cfg.net == "mlp" and cfg.channels_last == "on":
        raise ConfigError("config key 'channels_last': applies to conv nets (dcgan, resnet), not net=mlp; "
                          "use channels_last=off or auto")
    if cfg.kind == "image" and cfg.net == "mlp":
        raise ConfigError("config key 'net': image data needs net=dcgan or net=resnet, got 'mlp'")
    if cfg.net == "resnet" and cfg.image_size not in (0, 32):
        raise ConfigError(f"config key 'image_size': net=resnet works at 32×32, got {cfg.image_size}; set image_size=32")
    if cfg.eval_every and cfg.eval_every % cfg.log_every:
        raise ConfigError(f"config key 'eval_every': {cfg.eval_every} must be a multiple of log_every={cfg.log_every}")
    bad = [m for m in cfg.eval_metrics.split(",") if m.strip() not in ("fd", "kid", "pr", "dc")]
    if bad:
        raise ConfigError(f"config key 'eval_metrics': unknown metric {bad[0]!r}; expected a comma-separated "
                          f"list of fd, kid, pr, dc")
    from gankit.evaluation import LOWER_IS_BETTER

    if cfg.best_metric and cfg.best_metric not in LOWER_IS_BETTER:
        raise ConfigError(f"config key 'best_metric': got {cfg.best_metric!r}, expected one of {', '.join(LOWER_IS_BETTER)}")
    if cfg.eval_every:  # the metric that picks best.pt must be one this run's evaluations produce
        if cfg.kind == "toy":
            produced = ["w1", "hq_fraction", "modes_covered"] + (["jsd"] if cfg.data == "mog1d" else [])
        else:
            families = {"fd": ["fd"], "kid": ["kid"], "pr": ["precision", "recall"], "dc": ["density", "coverage"]}
            produced = [name for m in cfg.eval_metrics.split(",") for name in families[m.strip()]]
        best = cfg.best_metric or produced[0]
        if best not in produced:
            measured = f"data={cfg.data}" + (f" with eval_metrics={cfg.eval_metrics}" if cfg.kind == "image" else "")
            raise ConfigError(f"config key 'best_metric': {best!r} is not measured for {measured}; "
                              f"choose one of {', '.join(produced)}")
    if cfg.d_norm == "batch" and cfg.objective == "wgan-gp":
        raise ConfigError("config key 'd_norm': batch norm breaks the per-sample gradient penalty (§6); "
                          "use d_norm=layer or d_norm=none")
    for key, (ok, allowed) in _RANGES.items():
        v = getattr(cfg, key)
        if v is not None and not ok(v):
            raise ConfigError(f"config key '{key}': got {v!r}, expected {allowed}")
    if cfg.frame_every and not _is_2d_toy(cfg.data):
        raise ConfigError(f"config key 'frame_every': animation frames are drawn for 2-D toy data only, "
                          f"not {cfg.data}; set frame_every=0")
    if cfg.checkpoint_every % cfg.log_every:
        raise ConfigError(f"config key 'checkpoint_every': got {cfg.checkpoint_every}, expected a multiple of "
                          f"log_every={cfg.log_every} (checkpoints are written at logging steps)")


FIELD_TYPES = _field_types()
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Config)}
KEYS = tuple(FIELD_TYPES)


# ----------------------------------------------------------------------------
# building from dicts, TOML files and key=value overrides
# ----------------------------------------------------------------------------
def build_config(values: dict[str, Any], *, source: str = "") -> Config:
    """A validated Config from a dict; unknown keys are refused."""
    prefix = f"{source}: " if source else ""
    for key in values:
        if key not in FIELD_TYPES:
            raise ConfigError(f"{prefix}unknown config key {key!r}; known keys: {', '.join(KEYS)}")
    try:
        return Config(**values)
    except ConfigError as err:
        raise ConfigError(f"{prefix}{err}") from None


def parse_value(key: str, text: str) -> Any:
    """Convert the text of a ``key=value`` override to the key's type."""
    if key not in FIELD_TYPES:
        raise ConfigError(f"unknown config key {key!r}; known keys: {', '.join(KEYS)}")
    t = FIELD_TYPES[key]
    try:
        if t is bool:
            low = text.lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise ValueError
        return t(text)
    except ValueError:
        raise ConfigError(f"config key '{key}': got {text!r}, expected {_type_word(t)}") from None


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["d_steps=5", "lr_d=1e-4"]`` -> ``{"d_steps": 5, "lr_d": 0.0001}``."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {pair!r} is not of the form key=value (e.g. d_steps=5)")
        out[key.strip()] = parse_value(key.strip(), text.strip())
    return out


def load_toml(path: str | Path) -> dict[str, Any]:
    """The key/value table of a TOML config file (not yet validated)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            values = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; check the path given to --config") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a folder; pass a .toml file to --config") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: TOML syntax error: {err}") from None
    except RecursionError:
        raise ConfigError(f"{path}: TOML arrays or tables nested too deeply; a config is flat key = value lines") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file; a config must be TOML text") from None
    for key, value in values.items():
        if isinstance(value, dict):
            raise ConfigError(f"{path}: section [{key}] is not supported; write every key at the top level")
    return values


def resolve_config(config_file: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """The Config a command line describes: a TOML file, then key=value overrides."""
    values: dict[str, Any] = {}
    source = ""
    if config_file is not None:
        values.update(load_toml(config_file))
        source = str(config_file)
        build_config(values, source=source)  # report file errors against the file
    values.update(parse_overrides(overrides or []))
    return build_config(values)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

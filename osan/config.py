"""Configuration: dataclasses, YAML loading and dotted ``key=value`` overrides.

The config is read-only once built: derived values (each domain's input dims) are passed to
modules explicitly, never written back into the config.

Resolution order (later wins), six stages:

1. the dataclass defaults;
2. the task preset (:data:`TASK_PRESETS`: ``regression`` for sentiment, ``classification``
   for video text);
3. the method preset (:data:`METHOD_PRESETS`, e.g. ``osan-mixup`` sets ``ddg.kind=mixup``);
4. the method-on-task preset (:data:`METHOD_TASK_PRESETS`, e.g. OSAN+ on regression);
5. a YAML file (a run folder's saved ``config.yaml`` with ``saved=True``: keys it predates
   take their :data:`INTRODUCED_KEYS` values), itself over ``base`` (``--resume``);
6. dotted ``key=value`` overrides, then top-level keywords (``method=``, ``seed=``).

Retired keys (``RETIRED_KEYS``) are refused in one line naming the key and the last commit
that has them; a saved config holding one at the value whose behaviour was kept loads.

This module declares the config (its dataclasses, choices, presets) and resolves, validates and
saves it; the generic machinery (coercion by annotation, merging, overrides, value checks,
:class:`ConfigError`, :func:`ranged`) is in ``osan/config_base.py`` and importable from here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from osan.atomic import atomic_write_bytes
from osan.config_base import (
    RETIRED_KEYS,  # noqa: F401 (re-exported)
    ConfigError,
    Range,
    build_dataclass,
    check_values,
    drop_retired_defaults,
    merge_dicts,
    parse_overrides,
    ranged,
    yaml_problem,
)
from osan.yaml_safe import YamlRefused, load_yaml, read_yaml_text

# ----------------------------------------------------------------------------- value checks
# Every field says what it accepts where it is declared: a ``Literal[...]`` type for a choice,
# ``ranged(...)`` (or ``metadata={"range": Range(...)}``) for a number, ``{"pattern": regex}``
# for a string. One validator (:func:`check_values`) walks the dataclasses and enforces them
# at load time, so a bad value is one line naming the key, never a failure deep in torch.

#: Choices that the modules check too (``osan.alignment.tal.SOLVERS``,
#: ``osan.alignment.pairing.PAIRING_STRATEGIES``; a test keeps them equal).
Solver = Literal["closed_form", "gradient"]
Pairing = Literal["pseudo_label", "nearest", "random"]
Normalize = Literal["standardize", "layer", "orthonormal", "none"]
EncoderKind = Literal["conv", "gru", "mean"]
GeneratorKind = Literal["ddg", "mixup"]

#: Largest seed: ``seed + 1`` seeds the target stream and must fit torch's generator.
SEED_MAX = 2**63 - 2
#: ``cpu``, ``cuda``, ``cuda:1``, ``mps``, ``xpu:0`` ... (whether it exists is checked when a
#: run starts, by ``osan.train.preflight``).
DEVICE_PATTERN = r"(cpu|cuda|mps|xpu|xla|hpu|meta)(:\d+)?"


_at_least_1 = {"range": Range(1)}


@dataclass(frozen=True)
class EncoderConfig:
    """Per-modality sequence encoders (``osan.nn.encoders``)."""

    kind: EncoderKind = "conv"
    # width of the per-domain input projection and the sequence layer
    hidden: int = ranged(128, lo=1)
    out_dims: dict[str, int] = field(
        default_factory=lambda: {"text": 512, "vision": 32, "audio": 32}, metadata=_at_least_1
    )
    default_out_dim: int = ranged(32, lo=1)  # for modalities not named in ``out_dims``
    dropout: float = ranged(0.1, lo=0.0, hi=1.0, hi_open=True)
    share_input_proj: bool = True  # one input projection for a modality with equal dims
    # "domain": z-score each input channel with its own domain's training-split statistics
    # (features only; osan.nn.standardize) before the input projection; "center": subtract
    # the domain's channel means only; "none": raw features.
    input_norm: Literal["none", "center", "domain"] = "none"


@dataclass(frozen=True)
class TALConfig:
    """Tensor-based alignment (paper §3.1, Eq. 1–3)."""

    enabled: bool = True
    out_dims: dict[str, int] = field(
        default_factory=lambda: {"text": 384, "vision": 2, "audio": 2}, metadata=_at_least_1
    )  # Table 5's best: 384·2·2
    default_out_dim: int = ranged(2, lo=1)
    eps: float = ranged(1e-3, lo=0.0, lo_open=True)
    sweeps: int = ranged(1, lo=1)
    momentum: float | None = ranged(0.9, lo=0.0, hi=1.0)
    append_one: bool = True
    pairing: Pairing = "pseudo_label"
    # Normalisation of the projected tensor: "standardize" (per-domain unit variance of each
    # projected coordinate) | "layer" (per-sample layer norm of the flattened tensor) |
    # "orthonormal" (project with an orthonormal basis of U's span) | "none"
    normalize: Normalize = "standardize"
    solver: Solver = "gradient"  # "gradient" (U/V learned) | "closed_form" (Eq. 2 every step)
    # gradient solver: the first k steps set U/V by the closed form
    cca_init_steps: int = ranged(1, lo=0)
    # weight of the TAL correlation objective in the total loss
    corr_weight: float = ranged(0.1, lo=0.0)
    # The heads read [LN(modality embeddings), g·LN(TAL tensor)] with a learned scalar gate g
    # (initialised at ``gate_init``), so TAL adds to what the embeddings carry.
    gate_init: float = ranged(0.0)  # any finite number
    # False: the gate stays at ``gate_init`` (with 0 the head never reads the TAL block, which
    # then only shapes the encoders through the domain losses and TAL's correlation term)
    gate_trainable: bool = True


@dataclass(frozen=True)
class DDGConfig:
    """Dynamic domain generator (paper §3.2, Eq. 4) or its Mixup ablation."""

    enabled: bool = True
    kind: GeneratorKind = "ddg"
    heads: int = ranged(64, lo=1)  # H generated domains (Table 4)
    lam: float = ranged(0.85, lo=0.0, hi=1.0)  # λ of Eq. 4 (Table 4)
    key_dim: int = ranged(8, lo=1)
    # soft domains sent to the discriminator per step (bounds its cost); 0: every head
    heads_per_step: int = ranged(8, lo=0)
    mixup_alpha: float = ranged(2.0, lo=0.0, lo_open=True)


@dataclass(frozen=True)
class LossConfig:
    """L = L_task + α·L_adv + β·L_dis (Eq. 5)."""

    task_loss: Literal["l1", "mse", "ce"] = "l1"  # l1 | mse for regression; ce for classification
    alpha: float = ranged(0.1, lo=0.0)  # adversarial weight α
    beta: float = ranged(0.1, lo=0.0)  # discrepancy weight β (MK-MMD)
    adv: bool = True
    dis: bool = True
    grl_gamma: float = ranged(10.0, lo=0.0)
    grl_max: float = ranged(1.0, lo=0.0)
    mmd_kernels: int = ranged(5, lo=1)
    mmd_kernel_mul: float = ranged(2.0, lo=0.0, lo_open=True)
    disc_hidden: int = ranged(256, lo=1)
    # The distance L_dis is (osan.alignment.discrepancy): "mk-mmd" (the paper's), "coral",
    # "rsd" or "dare-gram" (each with the knobs of its baseline in ``baselines``).
    dis_kind: Literal["mk-mmd", "coral", "rsd", "dare-gram"] = "mk-mmd"
    # L_adv conditioned on the model's predictions (CDAN's randomised multilinear map of the
    # aligned features and the predicted distribution; regression: ``condition_bins`` soft
    # bins of the score); DDG then mixes the conditioned rows. "none" = marginal alignment.
    condition: Literal["none", "cdan"] = "cdan"
    condition_dim: int = ranged(1024, lo=1)
    condition_bins: int = ranged(7, lo=2)
    # OSAN+ (``osan-plus``): weight of the self-training term on the target (0 = off). A
    # student view of each target batch (a fraction ``st_mask`` of its time steps dropped)
    # learns the prediction of the clean view (no dropout, no gradient): squared error for
    # regression, cross-entropy on rows whose clean class probability is >= ``st_threshold``.
    self_train: float = ranged(0.0, lo=0.0)
    st_mask: float = ranged(0.3, lo=0.0, hi=1.0, hi_open=True)
    st_threshold: float = ranged(0.9, lo=0.0, hi=1.0)
    # fraction of training over which the weight ramps up linearly
    st_warmup: float = ranged(0.2, lo=0.0, hi=1.0)
    # Regression: the self-training term compares batch-centred views (cannot move the mean).
    st_center: bool = False
    # Also apply the term to the source batch, where the task loss anchors the output scale.
    st_source: bool = False


@dataclass(frozen=True)
class OptimConfig:
    lr: float = ranged(1e-3, lo=0.0, lo_open=True)
    weight_decay: float = ranged(1e-4, lo=0.0)
    batch_size: int = ranged(64, lo=2)
    epochs: int = ranged(8, lo=1)
    warmup: float = ranged(0.05, lo=0.0, hi=1.0)  # fraction of steps with linear warm-up
    grad_clip: float = ranged(5.0, lo=0.0)  # 0: no clipping
    head_hidden: int = ranged(128, lo=1)
    fused: bool = True  # AdamW's fused kernel where the device has one (same update, one pass)
    # an epoch is one pass over: "longer" (the larger training split) | "labelled" (the split
    # the method learns labels from: the source, or the target for the oracle; alias "source")
    epoch: Literal["longer", "labelled", "source"] = "longer"


@dataclass(frozen=True)
class BaselineConfig:
    """Knobs of the baselines (``osan.methods.{dan, dann, adda, mm_sada, mdmn}``).

    Loss weights are shared with OSAN through :class:`LossConfig` (α for adversarial terms,
    β for MK-MMD, the GRL warm-up and the discriminator width).
    """

    # two-stage methods (ADDA, MM-SADA, MDMN): fraction of the epochs in "pretrain"
    pretrain_fraction: float = ranged(0.5, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    # MM-SADA: weight λ_s of the modality-correspondence self-supervision
    ss_weight: float = ranged(1.0, lo=0.0)
    ss_hidden: int = ranged(128, lo=1)  # MM-SADA: width of the correspondence classifier
    mdmn_fusion_dim: int = ranged(128, lo=1)  # MDMN: output width of the MLP fusion layer
    # Deep CORAL: weight of ‖C_s − C_t‖²_F / 4d² (the paper fixes none; 1 as in DomainBed)
    coral_weight: float = ranged(1.0, lo=0.0)
    # RSD: trade-off λ of (RSD + β·BMP) and β of the base mismatch (published 0.001, 0.1)
    rsd_tradeoff: float = ranged(1e-3, lo=0.0)
    rsd_beta: float = ranged(0.1, lo=0.0)
    # DARE-GRAM: weights α (angle), γ (scale), explained-variance threshold T (0.05, 0.001, 0.9)
    dare_alpha: float = ranged(0.05, lo=0.0)
    dare_gamma: float = ranged(1e-3, lo=0.0)
    dare_threshold: float = ranged(0.9, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    # MCC (classification only): temperature T and weight μ (published 2.5 and 1)
    mcc_temperature: float = ranged(2.5, lo=0.0, lo_open=True)
    mcc_weight: float = ranged(1.0, lo=0.0)


#: Test-time (source-free) adaptation methods of ``osan adapt`` (``osan.testtime``).
AdaptMethod = Literal["none", "adabn", "ssa", "tent", "shot-im"]


@dataclass(frozen=True)
class AdaptConfig:
    """``osan adapt``: test-time adaptation of a finished run (``osan.testtime``).

    ``method="none"``: a run trained by ``osan train`` (this section then stays out of
    ``config.yaml`` and of the config hash). ``None`` for ``epochs`` / ``lr`` takes the method's
    declared default (``osan.testtime.registry.METHODS``, docs/method.md "Test-time
    adaptation"); ``epochs`` counts passes over the target's unlabelled train split.
    """

    method: AdaptMethod = "none"
    epochs: int | None = ranged(None, lo=0)
    lr: float | None = ranged(None, lo=0.0, lo_open=True)
    batch_size: int = ranged(64, lo=2)
    # SSA: principal directions used (at most the k stored at training time) and the bias b of
    # the direction weights α_d = |w·v_d| + b
    ssa_k: int = ranged(64, lo=1)
    ssa_weight_bias: float = ranged(1.0, lo=0.0)
    # SHOT: weight β of the cross-entropy on clustering pseudo-labels (0: SHOT-IM only)
    shot_beta: float = ranged(0.0, lo=0.0)


@dataclass(frozen=True)
class Config:
    method: str = "osan"
    task: Literal["regression", "classification"] = "regression"
    seed: int = ranged(0, lo=0, hi=SEED_MAX)
    device: str = field(default="cpu", metadata={"pattern": DEVICE_PATTERN})
    num_threads: int | None = ranged(None, lo=1)
    # Checkpoint selection: a validator of ``osan.eval.selection`` (``VALIDATOR_TASKS``). It reads
    # source valid labels and unlabelled target train data, never target labels.
    selection: str = "source_val"
    # Diagnostic only (``osan report``'s learning curves): every k steps log target TEST
    # metrics to log.jsonl. Reads target labels, never feeds back into training or
    # selection, consumes no RNG. 0 = off.
    curve_every: int = ranged(0, lo=0)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    tal: TALConfig = field(default_factory=TALConfig)
    ddg: DDGConfig = field(default_factory=DDGConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    baselines: BaselineConfig = field(default_factory=BaselineConfig)
    adapt: AdaptConfig = field(default_factory=AdaptConfig)

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data. Diagnostic keys at their default (``curve_every=0``) are
        left out, so configs and hashes of runs without diagnostics stay what they were; so is
        ``adapt`` at its default (every run that ``osan adapt`` did not write)."""
        d = asdict(self)
        for key in DIAGNOSTIC_KEYS:
            if d[key] == getattr(Config, key):
                del d[key]
        if self.adapt == AdaptConfig():  # a trained (not adapted) run: as before `osan adapt`
            del d["adapt"]
        return d

    def hash(self) -> str:
        """A short stable hash of the resolved config (for result tables); blind to the
        diagnostic keys, which do not change a run's result."""
        d = {k: v for k, v in self.to_dict().items() if k not in DIAGNOSTIC_KEYS}
        blob = json.dumps(d, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


#: Top-level keys that only add diagnostics to a run (its metrics are identical without them).
DIAGNOSTIC_KEYS: tuple[str, ...] = ("curve_every",)


#: Checkpoint-selection validators (``Config.selection``, implemented in
#: ``osan.eval.selection``) and the tasks each applies to. None reads target labels.
VALIDATOR_TASKS: dict[str, tuple[str, ...]] = {
    "source_val": ("regression", "classification"),  # source validation loss (the default)
    "iwv": ("regression", "classification"),  # importance-weighted validation
    "dev": ("regression", "classification"),  # deep embedded validation
    "snd": ("classification",),  # soft neighbourhood density
    "entropy": ("classification",),  # mean target prediction entropy
    "im": ("classification",),  # information maximisation
}


TASK_PRESETS: dict[str, dict[str, Any]] = {
    # Multimodal sentiment analysis: Table 4 (H = 64, λ = 0.85), Table 5 (384·2·2).
    "regression": {"loss": {"task_loss": "l1"}},
    # Video text classification: Table 9 (H = 128, λ = 0.9), Table 10 (t: 56, v: 14).
    "classification": {
        "loss": {"task_loss": "ce"},
        "encoder": {"out_dims": {"text": 128, "layout": 32}},
        "tal": {"out_dims": {"text": 56, "layout": 14}, "default_out_dim": 4},
        "ddg": {"heads": 128, "lam": 0.9},
    },
}


# Config changes implied by a method name (applied after the task preset, before the user's).
METHOD_PRESETS: dict[str, dict[str, Any]] = {
    "osan-mixup": {"ddg": {"kind": "mixup"}},
    "osan-plus": {"loss": {"self_train": 1.0}},
}

#: Methods that apply to some tasks only (any other method applies to both).
METHOD_TASKS: dict[str, tuple[str, ...]] = {
    "mcc": ("classification",),  # Minimum Class Confusion needs class probabilities
}

# Config changes implied by a method on one task (after METHOD_PRESETS). OSAN+ on sentiment
# regression: a gentler self-training view and weight, batch-centred consistency (fixed on the
# msa benchmark's development data seed 0, docs/research-log.md Part 0 rounds 1 and 2), and the
# term on the source batch too, where the task loss holds the output scale (session 7, round 6:
# without it the target predictions' spread drifted on some data seeds); the classification
# values are FixMatch's.
METHOD_TASK_PRESETS: dict[tuple[str, str], dict[str, Any]] = {
    ("osan-plus", "regression"): {
        "loss": {"self_train": 0.3, "st_mask": 0.1, "st_center": True, "st_source": True}
    },
}


#: Keys added after runs were already saved, with the value that reproduces a run saved before
#: the key existed (listed where it differs from today's default). A run folder's
#: ``config.yaml`` holds the whole resolved config, so a key it lacks is one it predates.
INTRODUCED_KEYS: dict[str, dict[str, Any]] = {
    # condition: session 5; st_source: session 7 (OSAN+'s regression preset turns it on)
    "loss": {"condition": "none", "st_source": False},
}


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | dict[str, Any] | None = None,
    *,
    task: str | None = None,
    base: dict[str, Any] | None = None,
    saved: bool = False,
    **top: Any,
) -> Config:
    """Resolve a :class:`Config` from defaults, the task preset, a YAML file and overrides.

    ``top`` sets top-level keys (``method=``, ``seed=``, ...); ``None`` values are ignored.
    ``base`` (a resolved config's ``to_dict()``) replaces the defaults and presets as the
    starting point (``osan train --resume``: the run's own config, changed by the command).
    ``saved``: ``path`` is a run folder's saved ``config.yaml``; keys it predates take their
    :data:`INTRODUCED_KEYS` values, so an older run reloads as it was trained.
    """
    data: dict[str, Any] = dict(base or {})
    if path is not None:
        try:
            text = read_yaml_text(path)  # a regular file of at most 1 MiB
        except YamlRefused as e:
            raise ConfigError(f"{path}: {e}") from None
        except IsADirectoryError:
            raise ConfigError(f"{path}: is a directory, not a YAML config file") from None
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not a text (UTF-8) YAML file") from None
        except OSError as e:
            raise ConfigError(f"{path}: cannot read ({e.strerror or e})") from None
        try:
            loaded = load_yaml(text) or {}  # aliases refused
        except YamlRefused as e:
            raise ConfigError(f"{path}: {e}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: invalid YAML ({yaml_problem(e)})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
        if saved:
            loaded = drop_retired_defaults(merge_dicts(INTRODUCED_KEYS, loaded))
        data = merge_dicts(data, loaded)
    if overrides:
        over = overrides if isinstance(overrides, dict) else parse_overrides(overrides)
        data = merge_dicts(data, over)
    data = merge_dicts(data, {k: v for k, v in top.items() if v is not None})
    resolved_task = task or data.get("task") or Config.task
    if resolved_task not in TASK_PRESETS:
        raise ConfigError(f"task must be one of {sorted(TASK_PRESETS)}, got {resolved_task!r}")
    data["task"] = resolved_task
    method = data.get("method", "")
    merged = merge_dicts(TASK_PRESETS[resolved_task], METHOD_PRESETS.get(method, {}))
    merged = merge_dicts(merged, METHOD_TASK_PRESETS.get((method, resolved_task), {}))
    merged = merge_dicts(merged, data)
    try:
        cfg = build_dataclass(Config, merged)
        validate_config(cfg)
    except ConfigError as e:
        if saved and path is not None:  # a run folder's own file: name it (a cut or edited one)
            raise ConfigError(f"{path}: {e}") from None
        raise
    return cfg


def validate_config(cfg: Config) -> None:
    """Field values (:func:`check_values`), then the rules that relate several fields."""
    check_values(cfg)
    if cfg.task == "classification" and cfg.loss.task_loss != "ce":
        raise ConfigError("classification needs loss.task_loss=ce")
    if cfg.task == "regression" and cfg.loss.task_loss not in ("l1", "mse"):
        raise ConfigError("regression needs loss.task_loss=l1 or mse")
    if cfg.selection not in VALIDATOR_TASKS:
        raise ConfigError(
            f"selection must be one of {list(VALIDATOR_TASKS)}, got {cfg.selection!r}"
        )
    if cfg.task not in VALIDATOR_TASKS[cfg.selection]:
        valid = [n for n, tasks in VALIDATOR_TASKS.items() if cfg.task in tasks]
        raise ConfigError(
            f"selection={cfg.selection} applies to {list(VALIDATOR_TASKS[cfg.selection])} "
            f"only; for {cfg.task} choose from {valid}"
        )
    if cfg.task not in METHOD_TASKS.get(cfg.method, (cfg.task,)):
        raise ConfigError(
            f"method {cfg.method} applies to {' and '.join(METHOD_TASKS[cfg.method])} only, "
            f"not to this {cfg.task} task"
        )
    if cfg.method.strip() != cfg.method or not cfg.method:
        raise ConfigError(f"method: {cfg.method!r} is not a method name")


def save_config(cfg: Config, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically (permissions follow the umask)."""
    data = yaml.safe_dump(cfg.to_dict(), sort_keys=False).encode()
    atomic_write_bytes(path, lambda f: f.write(data))

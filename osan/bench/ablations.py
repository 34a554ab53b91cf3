"""The variants of the ablation suites (Tables 2-5 / 7-10, and OSAN's design choices): config
overrides of ``osan``, the first of each the full model the tables take deltas against."""

from __future__ import annotations

from osan.bench.run_spec import Variant
from osan.config import TALConfig


def _module_variants(task: str) -> list[Variant]:
    return [
        Variant("full", "OSAN (TAL + DDG)", "osan", reference=True),
        Variant("wo-DDG", "w/o DDG", "osan", ("ddg.enabled=false",)),
        Variant("wo-TAL", "w/o TAL", "osan", ("tal.enabled=false",)),
        Variant("wo-both", "w/o Both", "osan", ("ddg.enabled=false", "tal.enabled=false")),
    ]


def _loss_variants(task: str) -> list[Variant]:
    return [
        Variant("full", "L_task + L_adv + L_dis", "osan", ("loss.adv=true", "loss.dis=true"), True),
        # L_task alone: no adversarial, no discrepancy and no TAL correlation term.
        Variant(
            "L_task", "L_task", "osan", ("loss.adv=false", "loss.dis=false", "tal.corr_weight=0")
        ),
        Variant("L_task+adv", "L_task + L_adv", "osan", ("loss.adv=true", "loss.dis=false")),
        Variant("L_task+dis", "L_task + L_dis", "osan", ("loss.adv=false", "loss.dis=true")),
    ]


# (H, λ) in the paper's column order; the first is the full model (the task preset's value).
DDG_GRID: dict[str, tuple[tuple[int, float], ...]] = {
    "regression": ((64, 0.85), (64, 0.9), (32, 0.85), (32, 0.9)),  # Table 4
    "classification": ((128, 0.9), (128, 0.95), (64, 0.9), (64, 0.95)),  # Table 9
}


def _ddg_variants(task: str) -> list[Variant]:
    return [
        Variant(
            f"H{h}-lam{lam:g}",
            f"λ = {lam:g}, H = {h}",
            "osan",
            (f"ddg.heads={h}", f"ddg.lam={lam:g}"),
            reference=i == 0,
        )
        for i, (h, lam) in enumerate(DDG_GRID[task])
    ]


# TAL projection dims per modality in the paper's column order; the first is the full model.
TAL_GRID: dict[str, tuple[dict[str, int], ...]] = {
    "regression": (  # Table 5
        {"text": 384, "vision": 2, "audio": 2},
        {"text": 192, "vision": 4, "audio": 2},
        {"text": 192, "vision": 2, "audio": 4},
    ),
    "classification": (  # Table 10 (t: text, v: the visual layout modality)
        {"text": 56, "layout": 14},
        {"text": 14, "layout": 56},
        {"text": 28, "layout": 28},
    ),
}


def _tal_dims_override(dims: dict[str, int]) -> str:
    return "tal.out_dims={" + ", ".join(f"{m}: {d}" for m, d in dims.items()) + "}"


# Encoder output widths for every column of a TAL ablation where the task preset's are too
# narrow for some column (TAL needs D <= the embedding width): Table 10's v: 56 > layout's 32.
# Every column gets the same encoder, so the deltas measure TAL's dims only.
TAL_ENCODER_DIMS: dict[str, dict[str, int]] = {"classification": {"text": 128, "layout": 64}}


def tal_variants(task: str, text_scale: float = 1.0) -> list[Variant]:
    out = []
    enc = TAL_ENCODER_DIMS.get(task)
    extra = (
        ()
        if enc is None
        else ("encoder.out_dims={" + ", ".join(f"{m}: {d}" for m, d in enc.items()) + "}",)
    )
    for i, dims in enumerate(TAL_GRID[task]):
        dims = {m: max(1, round(d * text_scale)) if m == "text" else d for m, d in dims.items()}
        name = "-".join(f"{m[0]}{d}" for m, d in dims.items())
        label = ", ".join(f"{m[0]}: {d}" for m, d in dims.items())
        over = (*extra, _tal_dims_override(dims))
        out.append(Variant(name, label, "osan", over, reference=i == 0))
    return out


PAIRINGS: dict[str, str] = {
    "nearest": "nearest neighbour",
    "pseudo_label": "pseudo-label",
    "random": "random",
}


def _pairing_variants(task: str) -> list[Variant]:
    """The config's default pairing is the full model (first column); then the others."""
    default = TALConfig().pairing
    order = [default] + [p for p in PAIRINGS if p != default]
    return [
        Variant(p, PAIRINGS.get(p, p), "osan", (f"tal.pairing={p}",), reference=p == default)
        for p in order
    ]


def _design_variants(task: str) -> list[Variant]:
    """Each session-4/5 choice of docs/method.md ("OSAN as built") that is still an option
    reverted alone, DDG removed, and OSAN+'s self-training added alone. The columns of retired
    options (TAL tensor alone, GRL before DDG, two target forwards, label-shift weights) were
    dropped with them; the last commit that has them is ``RETIRED_IN`` (osan.config_base)."""
    return [
        Variant("full", "OSAN (defaults)", "osan", reference=True),
        Variant("pairing-nearest", "nearest pairing", "osan", ("tal.pairing=nearest",)),
        Variant("condition-none", "marginal L_adv (no CDAN)", "osan", ("loss.condition=none",)),
        Variant("no-ddg", "without DDG", "osan", ("ddg.enabled=false",)),
        Variant("plus", "+ self-training (OSAN+)", "osan-plus"),
    ]


ABLATIONS = {
    "ablation-design": _design_variants,
    "ablation-modules": _module_variants,
    "ablation-losses": _loss_variants,
    "ablation-ddg": _ddg_variants,
    "ablation-pairing": _pairing_variants,
}

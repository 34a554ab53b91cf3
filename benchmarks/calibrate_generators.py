"""Calibrate the generated benchmarks: how large is the source -> target gap, and how much of it
does a trivial fix close?

For each benchmark and seed, on the target *test* split (target labels are read only here, for
evaluation, and by the oracle rows, which are marked as using them):

- ``source-only``: a linear model (ridge for ``msa``, logistic regression for ``vtc``) on
  masked-mean-pooled (over true lengths), concatenated features, standardised with source
  statistics; hyper-parameter chosen on *source* valid.
- ``per-domain z-score``: the same, but each domain's features are z-scored with that domain's
  own (unlabelled) train statistics.
- ``oracle (target labels)``: trained on target train, hyper-parameter chosen on target valid.
- ``mlp``: the same three with a small MLP (``--mlp``).

``msa`` runs with ``dims="same"`` (a source model reads target features directly) and, for the
default ``dims="mmsa"`` (target audio/vision dims 5/20 vs 74/35), with per-modality PCA of each
domain (fitted on its own train split) to the smaller dim.

Usage::

    .venv/bin/python benchmarks/calibrate_generators.py --seeds 0 1 2 --mlp --json calib.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from osan.data.domain import Domain, Split
from osan.data.generators import generate
from osan.types import SPLITS

RIDGE_ALPHAS = (1.0, 10.0, 100.0, 1000.0, 10000.0)
LOGREG_CS = (0.001, 0.01, 0.1, 1.0)


def pooled(split: Split) -> np.ndarray:
    """Masked mean over true lengths per modality, concatenated in sorted modality order.

    Shape:
        returns: (N, sum_m I_m) float64
    """
    parts = []
    for m in sorted(split.features):
        x, n = split.features[m], split.lengths[m]
        mask = np.arange(x.shape[1])[None, :] < n[:, None]  # (N, L)
        parts.append((x * mask[:, :, None]).sum(axis=1) / n[:, None])  # (N, I_m)
    return np.concatenate(parts, axis=1).astype(np.float64)


def pooled_by_modality(split: Split) -> dict[str, np.ndarray]:
    out = {}
    for m in sorted(split.features):
        x, n = split.features[m], split.lengths[m]
        mask = np.arange(x.shape[1])[None, :] < n[:, None]  # (N, L)
        out[m] = ((x * mask[:, :, None]).sum(axis=1) / n[:, None]).astype(np.float64)
    return out


# --- metrics -----------------------------------------------------------------------------------


def msa_metrics(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """MAE, Pearson Corr, Acc-2 non-0 (true zeros dropped, positive vs negative), Acc-7."""
    nz = y != 0
    acc2 = float(np.mean((pred[nz] > 0) == (y[nz] > 0)))
    acc7 = float(np.mean(np.rint(np.clip(pred, -3, 3)) == np.rint(np.clip(y, -3, 3))))
    corr = float(np.corrcoef(pred, y)[0, 1]) if np.std(pred) > 0 else 0.0
    return {
        "MAE": float(np.mean(np.abs(pred - y))),
        "Corr": corr,
        "Acc2": 100 * acc2,
        "Acc7": 100 * acc7,
    }


def vtc_metrics(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {
        "F1": 100 * float(f1_score(y, pred, average="macro")),
        "Acc": 100 * float(np.mean(pred == y)),
    }


# --- features per setting ------------------------------------------------------------------------


@dataclass
class Views:
    """Pooled features of the four splits a setting uses (already standardised/projected)."""

    src_train: np.ndarray
    src_valid: np.ndarray
    src_test: np.ndarray
    tgt_train: np.ndarray
    tgt_valid: np.ndarray
    tgt_test: np.ndarray


def _zscore(fit: np.ndarray, *xs: np.ndarray) -> list[np.ndarray]:
    mu, sd = fit.mean(axis=0), fit.std(axis=0) + 1e-8
    return [(x - mu) / sd for x in xs]


def views(source: Domain, target: Domain, per_domain: bool) -> Views:
    """Source-standardised (``per_domain=False``) or per-domain standardised pooled features."""
    s = {k: pooled(source.split(k)) for k in SPLITS}
    t = {k: pooled(target.split(k)) for k in SPLITS}
    src = _zscore(s["train"], s["train"], s["valid"], s["test"])
    ref = t["train"] if per_domain else s["train"]
    tgt = _zscore(ref, t["train"], t["valid"], t["test"])
    return Views(*src, *tgt)


def pca_views(source: Domain, target: Domain, per_domain: bool) -> Views:
    """Differing dims: each modality of each domain projected by its own PCA (fitted on its own
    train split) to the smaller of the two dims, then standardised as in :func:`views`."""
    s = {k: pooled_by_modality(source.split(k)) for k in SPLITS}
    t = {k: pooled_by_modality(target.split(k)) for k in SPLITS}
    out_s: dict[str, list[np.ndarray]] = {k: [] for k in s}
    out_t: dict[str, list[np.ndarray]] = {k: [] for k in t}
    for m in sorted(s["train"]):
        d = min(s["train"][m].shape[1], t["train"][m].shape[1])
        if s["train"][m].shape[1] == t["train"][m].shape[1]:
            ps = pt = None  # same dims (text): no projection
        else:
            ps = PCA(d, random_state=0).fit(s["train"][m])
            pt = PCA(d, random_state=0).fit(t["train"][m])
        for k in s:
            out_s[k].append(ps.transform(s[k][m]) if ps else s[k][m])
        for k in t:
            out_t[k].append(pt.transform(t[k][m]) if pt else t[k][m])
    s2 = {k: np.concatenate(v, axis=1) for k, v in out_s.items()}
    t2 = {k: np.concatenate(v, axis=1) for k, v in out_t.items()}
    src = _zscore(s2["train"], s2["train"], s2["valid"], s2["test"])
    ref = t2["train"] if per_domain else s2["train"]
    tgt = _zscore(ref, t2["train"], t2["valid"], t2["test"])
    return Views(*src, *tgt)


# --- models ------------------------------------------------------------------------------

Fit = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]]


def fit_ridge(xtr: np.ndarray, ytr: np.ndarray, xva: np.ndarray, yva: np.ndarray):
    """Ridge regression with an intercept; alpha chosen by validation MSE (one eigh for all)."""
    mu_x, mu_y = xtr.mean(axis=0), float(ytr.mean())
    xc = xtr - mu_x
    evals, evecs = np.linalg.eigh(xc.T @ xc)  # (I,), (I, I)
    vty = evecs.T @ (xc.T @ (ytr - mu_y))  # (I,)
    best = None
    for a in RIDGE_ALPHAS:
        w = evecs @ (vty / (np.maximum(evals, 0.0) + a))  # (I,)
        err = float(np.mean(((xva - mu_x) @ w + mu_y - yva) ** 2))
        if best is None or err < best[0]:
            best = (err, w)
    w = best[1]
    return lambda x: (x - mu_x) @ w + mu_y


def fit_logreg(xtr: np.ndarray, ytr: np.ndarray, xva: np.ndarray, yva: np.ndarray):
    best = None
    for c in LOGREG_CS:
        model = LogisticRegression(C=c, max_iter=2000).fit(xtr, ytr)
        f1 = float(f1_score(yva, model.predict(xva), average="macro"))
        if best is None or f1 > best[0]:
            best = (f1, model)
    return best[1].predict


def _train_mlp(
    xtr: np.ndarray,
    ytr: np.ndarray,
    xva: np.ndarray,
    yva: np.ndarray,
    out_dim: int,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    epochs: int = 40,
) -> torch.nn.Module:
    """One hidden layer (128, ReLU, dropout 0.3), Adam with weight decay; the epoch with the
    lowest validation loss is kept."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(xtr.shape[1], 128),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.3),
        torch.nn.Linear(128, out_dim),
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-3)
    x, xv = torch.tensor(xtr, dtype=torch.float32), torch.tensor(xva, dtype=torch.float32)
    y, yv = torch.as_tensor(ytr), torch.as_tensor(yva)
    gen = torch.Generator().manual_seed(0)
    best = (float("inf"), None)
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(x), generator=gen).split(64):
            opt.zero_grad()
            loss_fn(net(x[idx]), y[idx]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            val = float(loss_fn(net(xv), yv))
        if val < best[0]:
            best = (val, {k: v.clone() for k, v in net.state_dict().items()})
    net.load_state_dict(best[1])
    return net.eval()


def fit_mlp_reg(xtr: np.ndarray, ytr: np.ndarray, xva: np.ndarray, yva: np.ndarray):
    def mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.mse_loss(out[:, 0], y.float())

    net = _train_mlp(xtr, ytr, xva, yva, 1, mse)
    return lambda x: net(torch.tensor(x, dtype=torch.float32))[:, 0].detach().numpy()


def fit_mlp_clf(xtr: np.ndarray, ytr: np.ndarray, xva: np.ndarray, yva: np.ndarray):
    k = int(max(ytr.max(), yva.max())) + 1
    net = _train_mlp(xtr, ytr, xva, yva, k, torch.nn.functional.cross_entropy)
    return lambda x: net(torch.tensor(x, dtype=torch.float32)).argmax(1).numpy()


# --- one benchmark -----------------------------------------------------------------------------


def evaluate(
    source: Domain,
    target: Domain,
    make_views: Callable[[Domain, Domain, bool], Views],
    fit: Fit,
    metrics: Callable[[np.ndarray, np.ndarray], dict[str, float]],
    prefix: str,
) -> dict[str, dict[str, float]]:
    ys = {k: source.split(k).labels for k in ("train", "valid")}
    yt = {k: target.split(k).labels for k in ("train", "valid", "test")}
    rows = {}
    for name, per_domain in (("source-only", False), ("per-domain z-score", True)):
        v = make_views(source, target, per_domain)
        predict = fit(v.src_train, ys["train"], v.src_valid, ys["valid"])
        rows[f"{prefix}{name}"] = metrics(predict(v.tgt_test), yt["test"])
        if not per_domain:
            in_domain = metrics(predict(v.src_test), source.split("test").labels)
    v = make_views(source, target, True)
    predict = fit(v.tgt_train, yt["train"], v.tgt_valid, yt["valid"])
    rows[f"{prefix}oracle (target labels)"] = metrics(predict(v.tgt_test), yt["test"])
    rows[f"{prefix}source-only, on source test (in-domain)"] = in_domain
    return rows


def run_seed(bench: str, seed: int, size: str | float, mlp: bool) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    if bench == "msa":
        src, tgt = generate("msa", seed=seed, size=size, dims="same")
        rows.update(evaluate(src, tgt, views, fit_ridge, msa_metrics, "ridge, same dims: "))
        if mlp:
            rows.update(evaluate(src, tgt, views, fit_mlp_reg, msa_metrics, "mlp, same dims: "))
        src, tgt = generate("msa", seed=seed, size=size)
        rows.update(evaluate(src, tgt, pca_views, fit_ridge, msa_metrics, "ridge, mmsa dims+PCA: "))
    else:
        src, tgt = generate("vtc", seed=seed, size=size)
        rows.update(evaluate(src, tgt, views, fit_logreg, vtc_metrics, "logreg: "))
        if mlp:
            rows.update(evaluate(src, tgt, views, fit_mlp_clf, vtc_metrics, "mlp: "))
    return rows


def summarise(per_seed: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, list[float]]]:
    """Mean and sd over seeds of every metric of every row."""
    out: dict[str, dict[str, list[float]]] = {}
    for row in per_seed[0]:
        out[row] = {}
        for metric in per_seed[0][row]:
            vals = np.array([r[row][metric] for r in per_seed])
            out[row][metric] = [float(vals.mean()), float(vals.std())]
    return out


ROWS = ("source-only", "per-domain z-score", "oracle (target labels)")


def gaps(summary: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per model prefix and metric: the oracle - source-only gap and the fraction of it that
    per-domain z-scoring closes, ``(z - source) / (oracle - source)``."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    prefixes = dict.fromkeys(r.split(": ")[0] + ": " for r in summary)
    for p in prefixes:
        src, std, orc = (summary[f"{p}{r}"] for r in ROWS)
        out[p.rstrip(": ")] = {
            m: {
                "gap": orc[m][0] - src[m][0],
                "closed_by_zscore": (std[m][0] - src[m][0]) / (orc[m][0] - src[m][0])
                if orc[m][0] != src[m][0]
                else float("nan"),
            }
            for m in src
        }
    return out


def print_table(bench: str, summary: dict[str, dict[str, list[float]]]) -> None:
    metrics = list(next(iter(summary.values())))
    print(f"\n{bench}: target test (unless marked), mean ± sd over seeds")
    print(f"| setting | {' | '.join(metrics)} |")
    print("|---|" + "---|" * len(metrics))
    for row, vals in summary.items():
        cells = " | ".join(f"{m:.3f} ± {s:.3f}" if abs(m) < 10 else f"{m:.1f} ± {s:.1f}"
                           for m, s in vals.values())  # fmt: skip
        print(f"| {row} | {cells} |")
    print(f"\n{bench}: oracle - source-only gap, and the share of it per-domain z-score closes")
    print(f"| model | {' | '.join(metrics)} |")
    print("|---|" + "---|" * len(metrics))
    for model, per_metric in gaps(summary).items():
        cells = " | ".join(
            f"{g['gap']:+.3g} ({100 * g['closed_by_zscore']:.0f}%)" for g in per_metric.values()
        )
        print(f"| {model} | {cells} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", nargs="+", default=["msa", "vtc"], choices=["msa", "vtc"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--size", default="small", help="tiny | small | large | float")
    parser.add_argument("--mlp", action="store_true", help="also a small MLP (slower)")
    parser.add_argument("--json", help="write the per-seed rows and the summary here")
    args = parser.parse_args(argv)
    size: str | float = args.size
    try:
        size = float(args.size)
    except ValueError:
        pass
    result: dict[str, dict] = {}
    for bench in args.bench:
        t0 = time.perf_counter()
        per_seed = [run_seed(bench, s, size, args.mlp) for s in args.seeds]
        summary = summarise(per_seed)
        print_table(bench, summary)
        print(f"({time.perf_counter() - t0:.0f} s)")
        result[bench] = {"seeds": args.seeds, "size": args.size, "per_seed": per_seed}
        result[bench]["summary"] = summary
        result[bench]["gaps"] = gaps(summary)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

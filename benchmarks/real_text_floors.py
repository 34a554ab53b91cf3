"""Floors for the real-text suite: closed-form ridge regression on the same sentence embeddings.

The ``real-text`` suite trains every method on all-MiniLM-L6-v2 embeddings of the CMU-MOSI and
CMU-MOSEI transcripts. A plain ridge regression on the same embeddings, fitted on the source
training split (transfer floor) or on the target training split (oracle floor), evaluated on
the target test split, is what the neural methods must at least match; otherwise the encoder or
the training is the problem, not adaptation. Ridge: centred features and labels,
w = (XᵀX + αI)⁻¹ Xᵀy, α = 1 (the value the issue's floors were computed with), predictions
clipped to [-3, 3]; metrics from ``osan.eval.metrics``.

    .venv/bin/python benchmarks/real_text_floors.py --text-cache-dir /tmp/osan_text_cache \\
        [--alphas 0.1 1 10] [--json floors.json]

Needs the text encoder (``pip install 'osan[text]'``) or a cache filled by an earlier
``osan bench --suite real-text`` run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from osan.bench.runner import default_label_csv
from osan.data.label_csv import encode_label_csv
from osan.eval.metrics import regression_metrics

KEYS = ("mae", "corr", "acc2_non0")


def xy(domain, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Shape: (N, D) float64 embeddings and (N,) labels of one split."""
    part = domain.split(split)
    return np.asarray(part.features["text"][:, 0, :], np.float64), np.asarray(part.labels, float)


def fit_ridge(x: np.ndarray, y: np.ndarray, alpha: float):
    """Ridge with an unpenalised intercept. Shape: x (N, D), y (N,) -> predict (M, D) -> (M,)"""
    mu, y_mu = x.mean(0), y.mean()
    xc = x - mu
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - y_mu))
    return lambda z: np.clip((z - mu) @ w + y_mu, -3.0, 3.0)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mosi", type=Path, default=default_label_csv("mosi_label.csv"))
    ap.add_argument("--mosei", type=Path, default=default_label_csv("mosei_label.csv"))
    ap.add_argument("--text-cache-dir", type=Path, default=None)
    ap.add_argument("--alphas", type=float, nargs="+", default=[1.0])
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    def load(path: Path, name: str):
        return encode_label_csv(path, cache_dir=args.text_cache_dir, name=name, progress=True)

    mosi, mosei = load(args.mosi, "CMU-MOSI"), load(args.mosei, "CMU-MOSEI")
    results: dict = {}
    print("| direction | α | fitted on | MAE | Corr | Acc-2 (non-0) |")
    print("|---|---:|---|---:|---:|---:|")
    for direction, src, tgt in (("MOSI2MOSEI", mosi, mosei), ("MOSEI2MOSI", mosei, mosi)):
        x_test, y_test = xy(tgt, "test")
        for alpha in args.alphas:
            for floor, dom in (("source", src), ("oracle", tgt)):
                predict = fit_ridge(*xy(dom, "train"), alpha)
                m = regression_metrics(predict(x_test), y_test)
                row = {k: float(m[k]) for k in KEYS}
                results.setdefault(direction, {}).setdefault(str(alpha), {})[floor] = row
                print(
                    f"| {direction} | {alpha:g} | {floor} train | {row['mae']:.3f} | "
                    f"{row['corr']:.3f} | {row['acc2_non0']:.3f} |"
                )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()

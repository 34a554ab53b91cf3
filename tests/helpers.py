"""A tiny shifted-data generator for fast method/trainer tests (independent of osan's
built-in benchmarks, so a change there cannot hide a trainer bug)."""

from __future__ import annotations

import numpy as np

from osan.data.domain import Domain, Split


def toy_split(rng, n, dims, shift, task, k=3, max_len=6):
    w = {m: np.random.default_rng(1).normal(size=d) for m, d in dims.items()}
    feats, lens = {}, {}
    z = rng.normal(size=n)
    for m, d in dims.items():
        base = rng.normal(size=(n, max_len, d)) * 0.5
        base += z[:, None, None] * w[m][None, None, :] / np.sqrt(d)
        base += shift
        feats[m] = base.astype(np.float32)
        lens[m] = rng.integers(2, max_len + 1, size=n).astype(np.int64)
        for i, length in enumerate(lens[m]):
            feats[m][i, length:] = 0.0
    if task == "regression":
        labels = np.clip(np.round(z * 1.2 * 3) / 3, -3, 3).astype(np.float32)
    else:
        labels = np.digitize(z, np.quantile(z, np.linspace(0, 1, k + 1)[1:-1])).astype(np.int64)
    ids = [f"s{i}" for i in range(n)]
    return Split(feats, lens, labels, ids, [f"text {i}" for i in range(n)])


def toy_domains(task="regression", seed=0, n=96, target_dims=None):
    rng = np.random.default_rng(seed)
    sdims = {"text": 10, "vision": 5, "audio": 4}
    tdims = target_dims or sdims
    classes = ["a", "b", "c"] if task == "classification" else None

    def dom(name, dims, shift):
        return Domain(
            name,
            {
                s: toy_split(rng, n if s == "train" else n // 2, dims, shift, task)
                for s in ("train", "valid", "test")
            },
            task=task,
            classes=classes,
        )

    return dom("src", sdims, 0.0), dom("tgt", tdims, 0.7)


TINY = [
    "optim.batch_size=16",
    "optim.epochs=2",
    "encoder.hidden=16",
    "encoder.out_dims={text: 8, vision: 4, audio: 4}",
    "tal.out_dims={text: 4, vision: 2, audio: 2}",
    "ddg.heads=8",
    "ddg.heads_per_step=4",
    "loss.disc_hidden=16",
    "optim.head_hidden=16",
]

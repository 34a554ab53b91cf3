"""Run a trained method over a split: predictions, features and metrics.

This is the only place in the package that reads TARGET labels, and only for valid/test
evaluation: training and model selection never call it on target data.
"""

from __future__ import annotations

import csv
import io
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from osan.atomic import atomic_write_bytes
from osan.data.domain import DataError, Domain, Split, SplitLoader
from osan.data.file_audit import NpzIndex
from osan.data.safe_pickle import check_regular_file
from osan.eval.metrics import classification_metrics, regression_metrics
from osan.methods.base import Method


@dataclass
class Predictions:
    """Shape: pred (N,) regression values or (N, K) class logits; features (N, D)."""

    ids: list[str]
    pred: np.ndarray
    features: np.ndarray | None
    labels: np.ndarray | None


@torch.no_grad()
def predict_split(
    method: Method,
    split: Split,
    domain: str,
    *,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    with_features: bool = False,
    labelled: bool = True,
) -> Predictions:
    was_training = method.training
    method.eval()
    loader = SplitLoader(split, batch_size, labelled=labelled, device=device)
    preds, feats = [], []
    for batch in loader:
        f = method.features(batch, domain)
        preds.append(method.head(f).float().cpu())
        if with_features:
            feats.append(f.float().cpu())
    method.train(was_training)
    labels = None if (split.labels is None or not labelled) else np.asarray(split.labels)
    return Predictions(
        ids=list(split.ids),
        pred=torch.cat(preds).numpy(),
        features=torch.cat(feats).numpy() if with_features else None,
        labels=labels,
    )


def score(pred: np.ndarray, labels: np.ndarray, task: str, classes: list[str] | None) -> dict:
    """Metrics of ``osan.eval.metrics`` for the task."""
    if task == "classification":
        k = pred.shape[1] if pred.ndim == 2 else (len(classes) if classes else int(pred.max()) + 1)
        return classification_metrics(pred, labels, classes if classes else k)
    return regression_metrics(pred, labels)


def score_or_note(preds: Predictions, task: str, classes: list[str] | None, what: str) -> dict:
    """:func:`score` of labelled predictions; for a split without labels (an unlabelled
    target, the README's main use case) a record saying so, with the sample count."""
    if preds.labels is None:
        return {"labelled": False, "n": len(preds.ids), "note": f"{what} has no labels to score"}
    return score(preds.pred, preds.labels, task, classes)


# --------------------------------------------------------------------------- run artifacts

#: File names of what a finished run saves for ``osan report`` (no retraining at report time).
FEATURES_FILE = "features.npz"
PREDICTIONS_FILE = "predictions.csv"
#: At most this many SOURCE test rows are kept (a fixed-seed sample, the same for every run on
#: the same data, so that methods are compared on the same source points).
SOURCE_SAMPLE = 1000
SOURCE_SAMPLE_SEED = 0


@dataclass
class RunArtifacts:
    """Features and predictions of a trained run, for analysis only (``osan report``).

    ``target_labels`` are the TARGET TEST labels: they are stored for evaluation and the
    report's label-coloured plots only. Nothing in training or model selection reads this
    artifact; it is written after the run has finished and its checkpoint was chosen.

    Shape:
        target_features: (N_t, D) float32; target_pred: (N_t,) or (N_t, K); target_labels: (N_t,)
        source_features: (N_s, D) float32 with N_s <= SOURCE_SAMPLE rows of the source test
        split (``source_index`` (N_s,) their rows); source_pred, source_labels likewise
        *_ids: N strings; *_text: N strings or ``None`` (raw text where the domain has it)
    """

    task: str
    classes: list[str] | None
    target_ids: list[str]
    target_features: np.ndarray
    target_pred: np.ndarray
    target_labels: np.ndarray | None
    target_text: list[str] | None
    source_ids: list[str]
    source_index: np.ndarray
    source_features: np.ndarray
    source_pred: np.ndarray
    source_labels: np.ndarray | None
    source_text: list[str] | None

    def point_predictions(self, domain: str = "target") -> np.ndarray:
        """(N,) regression values, or (N,) int class ids (argmax of the logits)."""
        pred = self.target_pred if domain == "target" else self.source_pred
        return pred.argmax(1) if pred.ndim == 2 else pred


def source_sample_rows(
    n: int, k: int = SOURCE_SAMPLE, seed: int = SOURCE_SAMPLE_SEED
) -> np.ndarray:
    """Sorted rows of a fixed-seed sample of ``min(n, k)`` of ``n`` rows (all rows if n <= k)."""
    if n <= k:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False)).astype(np.int64)


def collect_run_artifacts(
    method: Method,
    source: Domain,
    target: Domain,
    *,
    task: str,
    classes: list[str] | None,
    device: str | torch.device = "cpu",
    source_sample: int = SOURCE_SAMPLE,
) -> RunArtifacts:
    """Features and predictions of target test and a fixed-seed sample of source test."""
    tgt_split = target.split("test")
    src_split = source.split("test")
    rows = source_sample_rows(len(src_split), source_sample)
    src_split = src_split.subset(rows)
    tgt = predict_split(method, tgt_split, "target", device=device, with_features=True)
    src = predict_split(method, src_split, "source", device=device, with_features=True)
    return RunArtifacts(
        task=task,
        classes=list(classes) if classes else None,
        target_ids=tgt.ids,
        target_features=tgt.features,
        target_pred=tgt.pred,
        target_labels=tgt.labels,
        target_text=None if tgt_split.raw_text is None else list(tgt_split.raw_text),
        source_ids=src.ids,
        source_index=rows,
        source_features=src.features,
        source_pred=src.pred,
        source_labels=src.labels,
        source_text=None if src_split.raw_text is None else list(src_split.raw_text),
    )


def _compact(x: np.ndarray) -> np.ndarray:
    """float16 storage where it is lossless in range (features: ~3 significant digits suffice
    for t-SNE, cosine neighbours and the JSD estimate); float32 otherwise."""
    half = x.astype(np.float16)
    return half if np.all(np.isfinite(half)) else x.astype(np.float32)


def save_run_artifacts(art: RunArtifacts, run_dir: str | Path) -> None:
    """Write ``run_dir/features.npz`` and ``run_dir/predictions.csv`` atomically.

    ``predictions.csv`` has one target test row per sample: ``id, label, prediction`` (and the
    class probabilities for classification). Its ``label`` column is for evaluation only.
    """
    run = Path(run_dir)
    arrays: dict[str, np.ndarray] = {
        "task": np.asarray(art.task),
        "classes": np.asarray(art.classes if art.classes else [], dtype=str),
        "target_ids": np.asarray(art.target_ids, dtype=str),
        "target_features": _compact(art.target_features),
        "target_pred": art.target_pred.astype(np.float32),
        "source_ids": np.asarray(art.source_ids, dtype=str),
        "source_index": art.source_index.astype(np.int64),
        "source_features": _compact(art.source_features),
        "source_pred": art.source_pred.astype(np.float32),
    }
    for name in ("target_labels", "source_labels"):
        value = getattr(art, name)
        if value is not None:
            arrays[name] = np.asarray(value)
    for name in ("target_text", "source_text"):
        value = getattr(art, name)
        if value is not None:
            arrays[name] = np.asarray(value, dtype=str)
    atomic_write_bytes(run / FEATURES_FILE, lambda f: np.savez_compressed(f, **arrays))
    atomic_write_bytes(run / PREDICTIONS_FILE, lambda f: f.write(_predictions_csv(art).encode()))


def _predictions_csv(art: RunArtifacts) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    labels = art.target_labels
    if art.target_pred.ndim == 2:
        names = art.classes or [str(k) for k in range(art.target_pred.shape[1])]
        logits = art.target_pred - art.target_pred.max(1, keepdims=True)
        prob = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)  # (N, K) softmax
        w.writerow(["id", "label", "prediction", *[f"p_{n}" for n in names]])
        for i, row in enumerate(prob):
            label = "" if labels is None else names[int(labels[i])]
            pred = names[int(row.argmax())]
            w.writerow([art.target_ids[i], label, pred, *[f"{p:.6f}" for p in row]])
    else:
        w.writerow(["id", "label", "prediction"])
        for i, p in enumerate(art.target_pred.tolist()):
            label = "" if labels is None else f"{float(labels[i]):.6g}"
            w.writerow([art.target_ids[i], label, f"{p:.6f}"])
    return buf.getvalue()


def load_run_artifacts(run_dir: str | Path) -> RunArtifacts:
    """Read ``run_dir/features.npz`` (no pickles: ``allow_pickle=False``; headers checked first
    by :class:`~osan.data.file_audit.NpzIndex`). A truncated or corrupt file is one
    :class:`DataError` naming it."""
    path = Path(run_dir) / FEATURES_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: missing (the run was trained before osan saved report artifacts; "
            "train it again)"
        )
    check_regular_file(path)
    try:
        NpzIndex(path, str(path))  # declared sizes capped, no object arrays
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
        return _artifacts(d)
    except DataError as e:
        raise DataError(f"{e} (a run file: train the run again)") from None
    except (OSError, ValueError, KeyError, TypeError, IndexError, EOFError, zipfile.BadZipFile,
            zlib.error) as e:  # fmt: skip
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(
            f"{path}: truncated or corrupt run file ({type(e).__name__}: {first[:120]}); "
            "train the run again"
        ) from None


def _artifacts(d: dict[str, np.ndarray]) -> RunArtifacts:
    def text(key: str) -> list[str] | None:
        return d[key].tolist() if key in d else None

    classes = d["classes"].tolist()
    return RunArtifacts(
        task=str(d["task"]),
        classes=classes or None,
        target_ids=d["target_ids"].tolist(),
        target_features=d["target_features"].astype(np.float32),
        target_pred=d["target_pred"],
        target_labels=d.get("target_labels"),
        target_text=text("target_text"),
        source_ids=d["source_ids"].tolist(),
        source_index=d["source_index"],
        source_features=d["source_features"].astype(np.float32),
        source_pred=d["source_pred"],
        source_labels=d.get("source_labels"),
        source_text=text("source_text"),
    )


# --------------------------------------------------------------------------- learning curves


def target_curve_point(
    method: Method,
    target: Domain,
    task: str,
    classes: list[str] | None,
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
) -> dict[str, float]:
    """Target TEST metrics of the model as it is now: a DIAGNOSTIC that reads target labels.

    For learning curves only (``Config.curve_every``): the caller logs the result and never
    uses it for training or model selection. Runs in eval mode under ``no_grad`` and restores
    the CPU (and CUDA) RNG state, so the training that follows is unchanged bit for bit.
    """
    dev = torch.device(device)
    devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        pred = predict_split(
            method, target.split("test"), "target", batch_size=batch_size, device=device
        )
    if pred.labels is None:
        raise ValueError(f"{target.name}: the target test split has no labels for a curve")
    return score(pred.pred, pred.labels, task, classes)

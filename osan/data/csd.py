"""CMU-MultimodalSDK computational sequences (``.csd``, HDF5) and domains built from them.

A computational sequence holds one kind of data for many videos::

    <root name>/                      e.g. "Opinion Segment Labels", "COVAREP", "FACET 4.2"
        data/<video_id>/features      (n, d) one row per time interval
        data/<video_id>/intervals     (n, 2) [start, end] in seconds
        metadata/<key>                (1,) string datasets: "root name", "dimension names", ...

:func:`load_csd` aligns feature sequences to a label sequence the way the SDK's
``mmdataset.align`` does: every label row is one segment, named ``"<video_id>[<k>]"`` with ``k``
the 0-based row in that video's label intervals (the SDK's segment id convention), and each
modality contributes the rows whose interval overlaps the segment's interval by more than
:data:`EPSILON` seconds. Unlike ``align`` we keep the raw frames as a sequence (no collapse).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from osan.data.domain import DataError, Domain, Split, data_error, finalize, pad_sequences
from osan.data.file_audit import h5_kind, open_h5
from osan.data.safe_pickle import check_regular_file
from osan.types import SPLITS, Task

EPSILON = 1e-3
"""Minimum overlap (seconds) between a frame and a segment; the SDK's ``align`` uses 10e-4."""

DEFAULT_FOLD_FRACTIONS: dict[str, float] = {"train": 0.7, "valid": 0.1, "test": 0.2}


@dataclass
class ComputationalSequence:
    """One ``.csd`` file in memory.

    Shape:
        data[video]: (features (n, d), intervals (n, 2)) float arrays, rows in file order
    """

    root: str
    data: dict[str, tuple[np.ndarray, np.ndarray]]
    metadata: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.data)

    def dim(self) -> int:
        """Feature dim (``d``) of the sequence."""
        return int(next(iter(self.data.values()))[0].shape[1]) if self.data else 0


def read_csd(path: str | Path) -> ComputationalSequence:
    """Read a computational sequence; check that every video has matching features and
    intervals. Raises :class:`DataError` naming the file (and video) on a corrupt file, a missing
    ``data`` group or mismatched rows."""
    source = str(path)
    check_regular_file(path)
    try:
        f = open_h5(Path(path), source)  # no outside data, declared size capped
    except OSError as e:
        raise DataError(f"{source}: not a readable HDF5 file (corrupt or truncated): {e}") from None
    with f:
        roots = list(f.keys())
        if len(roots) != 1:
            raise DataError(f"{source}: expected one root group, found {roots}")
        root_name = roots[0]
        root = f[root_name]
        if not isinstance(root, h5py.Group) or "data" not in root:
            raise DataError(f"{source}: root '{root_name}' has no 'data' group")
        data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        try:
            group = root["data"]
            for video in group:
                data[video] = _read_video(group[video], source, video)
                dim, first = data[video][0].shape[1], next(iter(data))
                if dim != data[first][0].shape[1]:
                    raise DataError(
                        f"{source}: video '{video}': feature dim {dim} differs from "
                        f"{data[first][0].shape[1]} of video '{first}'"
                    )
            metadata = _read_metadata(root.get("metadata"))
        except DataError:
            raise
        except (OSError, KeyError, ValueError, TypeError) as e:
            raise DataError(f"{source}: unreadable HDF5 content ({e})") from None
    return ComputationalSequence(root=root_name, data=data, metadata=metadata)


def write_csd(
    path: str | Path,
    root_name: str,
    data: Mapping[str, tuple[np.ndarray, np.ndarray]],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write a computational sequence in the SDK's layout (metadata as (1,) string datasets).

    Shape:
        data[video]: (features (n, d), intervals (n, 2))
    """
    with h5py.File(path, "w") as f:
        root = f.create_group(root_name)
        group = root.create_group("data")
        for video, (features, intervals) in data.items():
            g = group.create_group(video)
            g.create_dataset("features", data=np.asarray(features))
            g.create_dataset("intervals", data=np.asarray(intervals))
        meta = root.create_group("metadata")
        string = h5py.string_dtype()
        for key, value in {"root name": root_name, **(metadata or {})}.items():
            meta.create_dataset(key, data=np.array([str(value)], dtype=object), dtype=string)


def load_csd(
    features: Mapping[str, str | Path],
    labels: str | Path,
    *,
    folds: Mapping[str, list[str]] | None = None,
    task: Task = "regression",
    max_len: int | Mapping[str, int] | None = None,
    label_column: int = 0,
    nan_policy: str = "error",
    required: tuple[str, ...] = SPLITS,
    name: str | None = None,
) -> Domain:
    """Build a domain from feature sequences (one ``.csd`` per modality) and a label sequence.

    Segments are the label rows: id ``"<video>[<k>]"`` (0-based row ``k`` in the file's order,
    as the SDK names them), label ``features[k, label_column]``. For each modality a segment
    takes the frames whose interval overlaps it by more than :data:`EPSILON` (frames sorted by
    start time), truncated to ``max_len`` (an int, a per-modality dict, or ``None`` for the
    longest over all splits) and zero-padded. A segment with no frame (or a video absent from
    a modality) gets one zero row of length 1; the count per modality is in
    ``domain.meta["empty_segments"]``. (The SDK's ``align`` drops zero-length label intervals;
    we keep every label row, so ids and counts match the label file.)

    ``folds`` maps split names (``dev`` is accepted for ``valid``) to video ids; segments of
    videos in no fold are dropped (counted in ``meta["unassigned_videos"]``; fold videos absent
    from the labels are listed in ``meta["fold_videos_without_labels"]``). Without folds,
    :func:`default_folds` splits the videos 70/10/20 deterministically, never splitting a video.

    Shape:
        returns features[m]: (N, L_m, d_m) float32, lengths[m]: (N,) int64, labels: (N,)
    """
    label_seq = read_csd(labels)
    source = str(labels)
    if not label_seq.data:
        raise DataError(f"{source}: no videos in the label sequence")
    videos = list(label_seq.data)
    label_dim = label_seq.dim()
    if not 0 <= label_column < label_dim:
        raise DataError(f"{source}: label_column {label_column} outside 0..{label_dim - 1}")

    assignment = _assign(videos, folds, source)
    unassigned = sum(1 for v in videos if v not in assignment)
    unlabelled = sorted(set(assignment) - set(videos))
    split_names = [s for s in SPLITS if s in set(assignment.values())]
    rows: dict[str, list[tuple[str, int]]] = {s: [] for s in split_names}
    for v in videos:
        if v in assignment:
            n = label_seq.data[v][0].shape[0]
            rows[assignment[v]].extend((v, k) for k in range(n))

    seqs = {m: read_csd(p) for m, p in features.items()}
    for m, seq in seqs.items():
        if not seq.data:
            raise DataError(f"{features[m]}: no videos in the '{m}' sequence")
    caps = _caps(max_len, list(seqs))
    empty = {m: 0 for m in seqs}
    chunks: dict[str, dict[str, list[np.ndarray]]] = {s: {} for s in rows}
    for m, seq in seqs.items():
        by_start = _sorted_by_start(seq)
        for s, items in rows.items():
            chunks[s][m] = [
                _overlapping(by_start.get(v), label_seq.data[v][1][k], seq.dim()) for v, k in items
            ]
            empty[m] += sum(c.shape[0] == 0 for c in chunks[s][m])
        if caps[m] is None:  # every split padded to the same length
            caps[m] = max((len(c) for cs in chunks.values() for c in cs[m]), default=1)
    splits: dict[str, Split] = {}
    for s, items in rows.items():
        feats: dict[str, np.ndarray] = {}
        lens: dict[str, np.ndarray] = {}
        for m, seq in seqs.items():
            feats[m], lens[m] = pad_sequences(chunks[s][m], dim=seq.dim(), max_len=caps[m])
        y = np.array([label_seq.data[v][0][k, label_column] for v, k in items])
        splits[s] = Split(
            features=feats,
            lengths=lens,
            labels=_labels(y, task, source, s),
            ids=[f"{v}[{k}]" for v, k in items],
        )
    classes = None
    if task == "classification":
        k = max((int(sp.labels.max()) + 1 for sp in splits.values() if len(sp)), default=1)
        classes = [str(i) for i in range(k)]
    domain = Domain(
        name=name or label_seq.metadata.get("dataset name", "").strip('"') or Path(labels).stem,
        splits=splits,
        task=task,
        classes=classes,
        meta={
            "source": source,
            "format": "csd",
            "features": {m: str(p) for m, p in features.items()},
            "empty_segments": empty,
            "unassigned_videos": unassigned,
            "fold_videos_without_labels": unlabelled,
        },
    )
    return finalize(domain, source, nan_policy=nan_policy, required=required)


def default_folds(
    videos: list[str], fractions: Mapping[str, float] = DEFAULT_FOLD_FRACTIONS
) -> dict[str, list[str]]:
    """Deterministic video-level folds: videos sorted by the SHA-256 of their id, then cut
    into consecutive runs of ``round(fraction * n)`` videos (valid and test get at least one
    video when there are three or more; train takes the rest). The same ids give the same
    folds on every machine, and no video is split across folds."""
    ordered = sorted(set(videos), key=lambda v: hashlib.sha256(v.encode()).hexdigest())
    n = len(ordered)
    sizes = {s: int(round(f * n)) for s, f in fractions.items() if s != "train"}
    if n >= 3:
        sizes = {s: max(1, c) for s, c in sizes.items()}
    folds: dict[str, list[str]] = {"train": ordered[: n - sum(sizes.values())]}
    start = len(folds["train"])
    for s, c in sizes.items():
        folds[s] = ordered[start : start + c]
        start += c
    return folds


# --------------------------------------------------------------------------- helpers


def _read_video(g: h5py.Group, source: str, video: str) -> tuple[np.ndarray, np.ndarray]:
    where = f"{source}: video '{video}'"
    if not isinstance(g, h5py.Group) or "features" not in g or "intervals" not in g:
        raise DataError(f"{where}: expected 'features' and 'intervals' datasets")
    for name in ("features", "intervals"):  # dtype from the header, before any read
        ds = g[name]
        if not isinstance(ds, h5py.Dataset) or h5_kind(ds) == "str" or ds.dtype.kind not in "biuf":
            got = getattr(ds, "dtype", "a group")
            raise DataError(f"{where}, field '{name}': not a numeric dataset ({got}); refused")
    x = np.asarray(g["features"][()])
    t = np.asarray(g["intervals"][()])
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.dtype.kind not in "biuf":
        raise DataError(f"{where}: features must be a numeric (n, d) array, got {x.shape}")
    if t.ndim != 2 or t.shape[1] != 2 or t.dtype.kind not in "biuf":
        raise DataError(f"{where}: intervals must be a numeric (n, 2) array, got {t.shape}")
    if x.shape[0] != t.shape[0]:
        raise DataError(f"{where}: {x.shape[0]} feature rows but {t.shape[0]} interval rows")
    return x.astype(np.float32, copy=False), t.astype(np.float64)


def _read_metadata(group: object) -> dict[str, str]:
    if not isinstance(group, h5py.Group):
        return {}
    out = {k: _text(v) for k, v in group.attrs.items()}
    for k, ds in group.items():
        if isinstance(ds, h5py.Dataset):
            value = ds[()]
            if isinstance(value, np.ndarray) and value.size == 1:
                value = value.reshape(()).item()
            out[k] = _text(value)
    return out


def _text(v: object) -> str:
    return v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v)


def _assign(videos: list[str], folds: Mapping[str, list[str]] | None, source: str) -> dict:
    if folds is None:
        folds = default_folds(videos)
    assignment: dict[str, str] = {}
    for split, ids in folds.items():
        s = "valid" if split == "dev" else split
        if s not in SPLITS:
            raise DataError(f"{source}: unknown fold '{split}' (use train, valid/dev, test)")
        for v in ids:
            if v in assignment and assignment[v] != s:
                raise DataError(f"{source}: video '{v}' is in folds '{assignment[v]}' and '{s}'")
            assignment[v] = s
    return assignment


def _caps(max_len: int | Mapping[str, int] | None, modalities: list[str]) -> dict:
    if max_len is None or isinstance(max_len, int):
        return {m: max_len for m in modalities}
    return {m: max_len.get(m) for m in modalities}


def _sorted_by_start(seq: ComputationalSequence) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each video's (features, intervals) with rows in start-time order, as the SDK sorts."""
    out = {}
    for v, (x, t) in seq.data.items():
        order = np.argsort(t[:, 0], kind="stable")
        out[v] = (x[order], t[order])
    return out


def _overlapping(
    entry: tuple[np.ndarray, np.ndarray] | None, interval: np.ndarray, dim: int
) -> np.ndarray:
    """Rows of ``entry`` overlapping ``interval`` by more than EPSILON seconds.

    Shape:
        entry: (features (n, dim), intervals (n, 2)), interval: (2,) -> (n_overlap, dim)
    """
    if entry is None:
        return np.zeros((0, dim), dtype=np.float32)
    x, t = entry
    overlap = np.minimum(t[:, 1], interval[1]) - np.maximum(t[:, 0], interval[0])  # (n,)
    return x[overlap > EPSILON]


def _labels(y: np.ndarray, task: Task, source: str, split: str) -> np.ndarray:
    if task == "regression":
        return y.astype(np.float32)
    if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
        raise data_error(source, split, "labels", "class labels must be whole numbers")
    return y.astype(np.int64)

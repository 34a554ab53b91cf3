"""``osan data convert IN --out OUT``: any supported input to the pickle-free format (or back).

OUT's suffix picks the writer: ``.h5``/``.hdf5`` or ``.npz`` (:mod:`osan.data.portable`,
loaded without pickle) or ``.pkl`` (the MMSA layout, :func:`osan.data.mmsa.save_mmsa`). IN is
anything :func:`osan.data.io.load_domain` reads. Converting back and forth is exact: features,
lengths, labels, ids and raw text come back array by array, with the domain's name, task,
classes and JSON-able meta.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from osan.data.domain import DataError, Domain
from osan.data.io import FORMATS, load_domain
from osan.data.mmsa import save_mmsa
from osan.data.portable import portable_kind, save_portable
from osan.types import SPLITS, Task

OUT_SUFFIXES = (".h5", ".hdf5", ".npz", ".pkl")


def convert(
    src: str | Path,
    out: str | Path,
    *,
    format: str = "auto",
    task: Task | None = None,
    nan_policy: str = "error",
    compress: bool = False,
    split: str | None = None,
    **load_kw: Any,
) -> Domain:
    """Load ``src`` and write it to ``out``; returns the domain written.

    ``split`` names the one split of a word-aligned pickle; ``compress`` gzips HDF5 datasets
    (``savez_compressed`` for NPZ).
    """
    out = Path(out)
    if format not in FORMATS or format == "csd":
        raise DataError(f"--format {format}: choose from {[f for f in FORMATS if f != 'csd']}")
    suffix = out.suffix.lower()
    if suffix not in OUT_SUFFIXES:
        raise DataError(f"{out}: write .h5 / .hdf5 / .npz (pickle-free) or .pkl (MMSA layout)")
    if Path(src).resolve() == out.resolve():
        raise DataError(f"{out}: the output would overwrite the input")
    kw = dict(load_kw)
    if split is not None:
        kw["split"] = split
    elif format == "wordaligned":
        kw["split"] = "train"
    domain = load_domain(src, format=format, task=task, nan_policy=nan_policy, **kw)
    if portable_kind(out) is not None:
        save_portable(domain, out, compress=compress)
    else:
        required = tuple(s for s in SPLITS if s in domain.splits)
        if required != tuple(domain.splits):
            raise DataError(f"{out}: the MMSA layout holds only splits {SPLITS}")
        save_mmsa(domain, out)
    return domain

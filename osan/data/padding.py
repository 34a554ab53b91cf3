"""Sequence lengths from zero padding, on the right (MMSA) or the left (the CMU-MultimodalSDK's
default, found in MulT-style files)."""

from __future__ import annotations

from typing import Literal

import numpy as np

Padding = Literal["auto", "right", "left"]


def infer_lengths(x: np.ndarray, padding: Padding = "auto") -> tuple[np.ndarray, np.ndarray, str]:
    """True lengths of zero-padded sequences, and the sequences padded on the right.

    A row (time step) is padding when all its features are exactly 0. Right padding: length =
    index of the last non-zero row + 1. Left padding (the CMU-MultimodalSDK's default, found in
    MulT-style files): length = L - index of the first non-zero row, and the rows are moved to
    the front so that every array follows our right-padded convention. ``padding="auto"``
    picks the side by majority vote of samples whose first (resp. last) row alone is zero,
    right on a tie. An all-zero sample gets length 1.

    Shape:
        x: (N, L, I) -> x: (N, L, I) right-padded, lengths: (N,) int64, side: "right" | "left"
    """
    n, L = x.shape[0], x.shape[1]
    nonzero = np.zeros((n, L), dtype=bool)
    for a in range(0, n, 1024):  # bounded temporaries for large (N, L, 768) arrays
        nonzero[a : a + 1024] = np.any(x[a : a + 1024] != 0, axis=2)  # (B, L)
    has = nonzero.any(axis=1)
    side = padding
    if padding == "auto":
        left_votes = int(np.sum(~nonzero[:, 0] & nonzero[:, -1]))
        right_votes = int(np.sum(nonzero[:, 0] & ~nonzero[:, -1]))
        side = "left" if left_votes > right_votes else "right"
    if side == "right":
        last = L - np.argmax(nonzero[:, ::-1], axis=1)  # (N,) index of last non-zero + 1
        return x, np.where(has, last, 1).astype(np.int64), side
    first = np.argmax(nonzero, axis=1)  # (N,)
    lengths = np.where(has, L - first, 1).astype(np.int64)
    shift = L - lengths  # (N,) rows of left padding
    src = np.minimum(np.arange(L)[None, :] + shift[:, None], L - 1)  # (N, L)
    out = np.take_along_axis(x, src[:, :, None], axis=1)  # (N, L, I)
    out[np.arange(L)[None, :] >= lengths[:, None]] = 0
    return out, lengths, side

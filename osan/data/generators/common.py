"""Shared pieces of the generated benchmarks: seeding, split sizes, word embeddings, bursts.

Everything here is deterministic given a seed: random streams are derived from
``numpy.random.SeedSequence([seed, *stable_keys])`` where the keys are CRC32 of names, never
Python's salted ``hash``.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.linalg import expm
from scipy.ndimage import gaussian_filter1d

from osan.types import SPLITS

SizeSpec = str | float
NAMED_SIZES: dict[str, float] = {"small": 1.0, "large": 5.0}
TINY_SPLIT_SIZE = 64
MIN_SPLIT_SIZE = 8
NOISE_POOL = 4096
EMBED_CHUNK = 128


def rng_for(seed: int, *keys: str) -> np.random.Generator:
    """An independent random stream for ``(seed, *keys)``: the same arguments, the same stream."""
    entropy = [int(seed)] + [zlib.crc32(k.encode()) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def split_sizes(base: Mapping[str, int], size: SizeSpec) -> dict[str, int]:
    """Rows per split: ``"tiny"`` is 64 per split, ``"small"`` is ``base``, ``"large"`` 5x ``base``,
    and a float multiplies ``base`` (at least 8 rows per split)."""
    if isinstance(size, str):
        if size == "tiny":
            return {s: TINY_SPLIT_SIZE for s in base}
        if size not in NAMED_SIZES:
            raise ValueError(f"unknown size {size!r}; use 'tiny', 'small', 'large' or a float")
        factor = NAMED_SIZES[size]
    else:
        factor = float(size)
        if not factor > 0:
            raise ValueError(f"size multiplier must be > 0, got {size}")
    return {s: max(MIN_SPLIT_SIZE, round(n * factor)) for s, n in base.items()}


def sample_ids(domain: str, split: str, n: int) -> list[str]:
    """``"{domain}_{split}_{i:05d}"`` for ``i < n``."""
    return [f"{domain}_{split}_{i:05d}" for i in range(n)]


def check_splits(sizes: Mapping[str, int]) -> None:
    if tuple(sizes) != SPLITS:
        raise ValueError(f"split sizes must be given for {SPLITS}, got {tuple(sizes)}")


def cluster_embeddings(
    rng: np.random.Generator,
    clusters: Sequence[Sequence[str]],
    dim: int,
    *,
    closeness: float,
    cluster_axes: np.ndarray | None = None,
    scale: float = 1.0,
) -> dict[str, np.ndarray]:
    """Word vectors in which words of one cluster (synonyms) are close.

    ``e_w = scale * (closeness * c_k + sqrt(1 - closeness^2) * u_w)`` with unit-variance Gaussian
    cluster centres ``c_k`` (or the given ``cluster_axes``) and word-specific ``u_w``; the cosine
    between two synonyms is about ``closeness^2``.

    Shape:
        cluster_axes: (K, dim), one row per cluster
        returns: word -> (dim,) float32
    """
    k = len(clusters)
    centres = cluster_axes if cluster_axes is not None else rng.standard_normal((k, dim))
    out: dict[str, np.ndarray] = {}
    own = np.sqrt(1.0 - closeness**2)
    for c, words in enumerate(clusters):
        for w in words:
            if w in out:
                raise ValueError(f"word {w!r} appears in two clusters")
            vec = closeness * centres[c] + own * rng.standard_normal(dim)
            out[w] = (scale * vec).astype(np.float32)
    return out


def embed_tokens(
    token_ids: np.ndarray,
    table: np.ndarray,
    noise_sd: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Look up token vectors and add isotropic noise; padding (id -1) stays zero.

    Shape:
        token_ids: (N, L) int, -1 after the true length
        table: (V, D) float32
        returns: (N, L, D) float32
    """
    n, length = token_ids.shape
    dim = table.shape[1]
    out = np.zeros((n, length, dim), dtype=np.float32)
    # Gaussian noise, cheaper than fresh draws: the sum of two rows drawn from a pool of (up to)
    # NOISE_POOL Gaussian rows (~16M distinct pairs), with the same N(0, noise_sd^2) marginal.
    pool_rows = min(NOISE_POOL, max(1, n * length // 4))  # small splits need no big pool
    pool = rng.standard_normal((pool_rows, dim), dtype=np.float32)
    pool *= np.float32(noise_sd / np.sqrt(2.0))
    pick = rng.integers(0, pool_rows, size=(2, n, length))
    # Chunks of rows keep the temporaries small and cache-resident (this is memory-bound).
    for lo in range(0, n, EMBED_CHUNK):
        ids = token_ids[lo : lo + EMBED_CHUNK].ravel()  # (C*L,)
        flat = np.flatnonzero(ids >= 0)  # real-token positions in the chunk
        rows = table[ids[flat]]  # (T, D)
        rows += pool[pick[0, lo : lo + EMBED_CHUNK].ravel()[flat]]
        rows += pool[pick[1, lo : lo + EMBED_CHUNK].ravel()[flat]]
        out[lo : lo + EMBED_CHUNK].reshape(-1, dim)[flat] = rows
    return out


def pad_token_ids(
    sequences: Sequence[Sequence[int]], max_len: int
) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad id lists with -1 (truncating at ``max_len``).

    Shape:
        returns: ids (N, max_len) int64, lengths (N,) int64
    """
    n = len(sequences)
    ids = np.full((n, max_len), -1, dtype=np.int64)
    lengths = np.zeros(n, dtype=np.int64)
    for i, seq in enumerate(sequences):
        seq = list(seq)[:max_len]
        ids[i, : len(seq)] = seq
        lengths[i] = len(seq)
    return ids, lengths


def time_mask(lengths: np.ndarray, max_len: int) -> np.ndarray:
    """``mask[i, t] = t < lengths[i]``.

    Shape:
        lengths: (N,); returns: (N, max_len) bool
    """
    return np.arange(max_len)[None, :] < lengths[:, None]


def bursts(
    rng: np.random.Generator,
    rate: np.ndarray,
    amplitude: np.ndarray,
    length: int,
    width: float,
) -> np.ndarray:
    """Sparse bursts: Bernoulli onsets with per-(sample, channel) rate and exponential heights,
    smoothed by a Gaussian of ``width`` frames (so a burst lasts a few frames).

    Shape:
        rate, amplitude: (N, C) onset probability per frame and mean burst height
        returns: (N, length, C) float32, non-negative
    """
    n, c = rate.shape
    onsets = rng.random((n, length, c)) < rate[:, None, :]
    heights = rng.exponential(1.0, size=(n, length, c)) * amplitude[:, None, :]
    impulses = np.where(onsets, heights, 0.0)
    # Gaussian smoothing keeps the area; rescale so a single burst peaks near its height.
    smooth = gaussian_filter1d(impulses, sigma=width, axis=1, mode="constant")
    return (smooth * (np.sqrt(2 * np.pi) * width)).astype(np.float32)


def random_walk(rng: np.random.Generator, n: int, length: int, c: int, step: float) -> np.ndarray:
    """Mean-reverting random walks (AR(1) with coefficient 0.9), e.g. head pose or pitch drift.

    Shape:
        returns: (n, length, c) float32
    """
    out = np.zeros((n, length, c), dtype=np.float32)
    x = rng.standard_normal((n, c)) * step * 2.0
    for t in range(length):
        x = 0.9 * x + step * rng.standard_normal((n, c))
        out[:, t] = x
    return out


def near_rotation(rng: np.random.Generator, dim: int, angle: float) -> np.ndarray:
    """An orthogonal matrix ``expm(angle * K)`` for a random skew-symmetric ``K`` with spectral
    norm 1: ``angle = 0`` is the identity, and no plane turns by more than ``angle`` radians.

    The direction ``K`` depends only on ``rng``; ``angle`` scales it continuously.

    Shape:
        returns: (dim, dim) float64
    """
    g = rng.standard_normal((dim, dim))
    k = g - g.T
    k /= np.abs(np.linalg.eigvals(k)).max()
    return expm(angle * k)


def observe(
    latent: np.ndarray,
    lengths: np.ndarray,
    view: np.ndarray,
    offset: np.ndarray,
    noise_sd: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """A sensor's linear view of latent channels, with offset and noise; zero after the length.

    ``x_t = z_t @ view + offset + noise_sd * eps_t``

    Shape:
        latent: (N, L, K); lengths: (N,); view: (K, I); offset: (I,)
        returns: (N, L, I) float32
    """
    n, length, _ = latent.shape
    x = np.einsum("nlk,ki->nli", latent, view.astype(np.float32))  # (N, L, I)
    x += offset.astype(np.float32)
    x += np.float32(noise_sd) * rng.standard_normal(x.shape, dtype=np.float32)
    x *= time_mask(lengths, length)[:, :, None]
    return x.astype(np.float32, copy=False)


def sample_lengths(
    rng: np.random.Generator, n: int, mean: float, sd: float, low: int, high: int
) -> np.ndarray:
    """Rounded Gaussian lengths clipped to ``[low, high]``.

    Shape:
        returns: (n,) int64
    """
    return np.clip(np.rint(rng.normal(mean, sd, size=n)), low, high).astype(np.int64)


def check_knobs(cls: type, kind: str, knobs: dict[str, object]) -> None:
    """Raise ``TypeError`` naming every knob of ``knobs`` that dataclass ``cls`` lacks."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(knobs) - names)
    if unknown:
        raise TypeError(f"unknown {kind} shift knob(s) {unknown}; known: {sorted(names)}")

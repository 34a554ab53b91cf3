"""A zoo of shift types for the generated sentiment benchmark: ``generate("msa", kind=KIND)``.

Each kind isolates one real cause of shift. Its source is the built-in CMU-MOSEI-like source
(the same arrays for every kind and for the built-in shift); its target is drawn from the same
world *as the source is* (same label distribution, utterance lengths, words, speaking style,
sensor view), except for the kind's cause:

- ``sensor``: per modality, an affine map (a near-rotation times a per-channel scale) plus an
  offset of the source-like features (another face tracker, acoustic front end or text encoder);
- ``reliability``: noisier features (per step and per recording), vision frames lost (zero
  steps), audio cut short (shorter true lengths), and in some recordings the transcript or the
  face missing altogether (one zero step) (missing transcripts, occluded faces, noisy and
  clipped recordings);
- ``vocabulary``: most sentiment words are target-only synonyms with unrelated embeddings, beside
  the shared ones (a domain's own slang: "meh", "awesome");
- ``label``: another sentiment distribution (mean, spread); features given the latent sentiment
  are the source's (another population of speakers and opinions);
- ``dims``: other vision / audio feature dims (35 -> 20, 74 -> 5), an unrelated linear view of
  the same latent channels (another feature extractor: CMU-MOSI vs CMU-MOSEI in MMSA);
- ``length``: shorter utterances, vision / audio frames resampled at a lower rate (short clips,
  another frame rate);
- ``mixed``: sensor, reliability, vocabulary, label and length together, each at 0.4-0.5 of its
  strength (a real deployment).

Domain-level causes (vocabulary, label, text length, dims) change the target's
:class:`~osan.data.generators.msa._DomainSpec` or the world's view; feature-level causes
(sensor, reliability, frame rate) transform the drawn target splits with their own random
streams, so the target of ``sensor`` is exactly an affine map of the features that the zoo's
unshifted target (:data:`NONE`) holds, and so on.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np

from osan.data.domain import Domain, Split
from osan.data.generators import common
from osan.data.generators.msa import (
    BASE_SIZES,
    TARGET_NAME,
    _domain_specs,
    _DomainSpec,
    sample_domains,
)
from osan.data.generators.msa_shift import MSAShift
from osan.data.generators.msa_world import build_world

#: The built-in shift (``MSAShift``'s knobs), the default of ``osan data generate msa``.
BUILTIN = "builtin"
#: The zoo's unshifted pair (the target drawn like the source): the reference of the tests.
NONE = "none"


@dataclass(frozen=True)
class ShiftKind:
    """One kind of the zoo: its one-line description, the real cause it stands for, and its
    effects with their strengths (1: the kind's full strength)."""

    name: str
    description: str
    cause: str
    effects: tuple[tuple[str, float], ...]


SHIFT_KINDS: dict[str, ShiftKind] = {
    k.name: k
    for k in (
        ShiftKind(
            "sensor",
            "per-modality affine map (rotation, scale) + offset of the source-like features",
            "another face tracker, acoustic front end or text encoder version",
            (("sensor", 1.0),),
        ),
        ShiftKind(
            "reliability",
            "noisier features, lost vision frames, audio cut short, a modality missing at times",
            "missing transcripts, faces not found or occluded, noisy and clipped recordings",
            (("reliability", 1.0),),
        ),
        ShiftKind(
            "vocabulary",
            "target-only sentiment words beside the shared ones",
            "a domain's own sentiment vocabulary (slang, jargon)",
            (("vocabulary", 1.0),),
        ),
        ShiftKind(
            "label",
            "another sentiment distribution (mean, spread); features given sentiment unchanged",
            "another population of speakers and opinions",
            (("label", 1.0),),
        ),
        ShiftKind(
            "dims",
            "other vision / audio feature dims (20 / 5 instead of 35 / 74)",
            "another feature extractor (CMU-MOSI vs CMU-MOSEI in MMSA)",
            (("dims", 1.0),),
        ),
        ShiftKind(
            "length",
            "shorter utterances, vision / audio resampled at a lower frame rate",
            "short clips recorded or featurised at another frame rate",
            (("length", 1.0),),
        ),
        ShiftKind(
            "mixed",
            "sensor, reliability, vocabulary, label and length together, each at 0.4-0.5 strength",
            "a real deployment, where several causes come at once",
            (
                ("sensor", 0.4),
                ("reliability", 0.5),
                ("vocabulary", 0.5),
                ("label", 0.45),
                ("length", 0.5),
            ),
        ),
    )
}

#: Every value of ``--shift``: the built-in shift, then the zoo.
KINDS: tuple[str, ...] = (BUILTIN, *SHIFT_KINDS)

# --- strengths at 1, calibrated on data seed 0 so that Direct Transfer stays above chance and
# the oracle gets ahead of it (docs/data.md "Shift zoo": the measured gaps; `length` leaves none,
# whatever its strength) -------------------------------------------------------------------------
# Sensor: largest rotation angle (radians), sd of a channel's log scale, sd of its offset. The
# text encoder changes less than the face tracker and acoustic front end (a version change).
SENSOR_ANGLE = {"text": 2.0, "vision": 2.5, "audio": 2.5}
SENSOR_LOG_SCALE = {"text": 0.2, "vision": 0.5, "audio": 0.5}
SENSOR_OFFSET = {"text": 0.05, "vision": 0.5, "audio": 0.5}
RELIABILITY_NOISE = {"text": 0.05, "vision": 0.3, "audio": 0.3}  # extra noise sd per step
RELIABILITY_DRIFT = {"text": 0.05, "vision": 0.3, "audio": 0.3}  # noise sd per recording
# Zero steps inserted per real step (frames where the tracker lost the face), while they fit.
RELIABILITY_GAPS = {"vision": 0.3}
# Share of recordings where a modality is missing altogether (no transcript, no face found):
# one zero step. A source model has never seen one; a target model learns to lean on the rest.
RELIABILITY_MISSING = {"text": 0.4, "vision": 0.3}
RELIABILITY_CUT = 0.5  # audio keeps a uniform share in [1 - CUT, 1] of its frames
VOCABULARY_NOVEL = 0.9  # share of sentiment-word occurrences drawn from target-only synonyms
VOCABULARY_SIMILARITY = 0.1  # cosine of a target-only word's embedding with its source relative
LABEL_MEAN = -1.0  # target latent mean moves by this (source 0.15)
LABEL_SD = 0.6  # target latent sd is this times the source's (1.05)
LENGTH_WORDS = 0.5  # target utterances have this share of the source's words
LENGTH_RATE = 0.5  # target frames are sampled at this share of the source's rate


def _lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


def _target_spec(source: _DomainSpec, effects: dict[str, float]) -> _DomainSpec:
    """The target's domain parameters: the source's, changed by the domain-level effects."""
    spec = replace(source, name=TARGET_NAME, role="target", lexicon="source")
    if "vocabulary" in effects:
        spec = replace(spec, lexicon="target", novel_words=VOCABULARY_NOVEL * effects["vocabulary"])
    if "label" in effects:
        t = effects["label"]
        spec = replace(
            spec,
            latent_mean=source.latent_mean + LABEL_MEAN * t,
            latent_sd=source.latent_sd * _lerp(1.0, LABEL_SD, t),
        )
    if "length" in effects:
        f = _lerp(1.0, LENGTH_WORDS, effects["length"])
        spec = replace(spec, words_mean=source.words_mean * f, words_sd=source.words_sd * f)
    return spec


# --- feature-level effects on a drawn target split ---------------------------------------------


def _valid(split: Split, m: str) -> np.ndarray:
    """(N, L, 1) float32 mask of the true time steps of modality ``m``."""
    x = split.features[m]
    return common.time_mask(split.lengths[m], x.shape[1])[:, :, None].astype(np.float32)


@functools.lru_cache(maxsize=16)
def sensor_map(seed: int, m: str, dim: int, strength: float) -> tuple[np.ndarray, np.ndarray]:
    """The target sensor's affine map of modality ``m``: ``x' = x @ A + b``, ``A = R diag(s)``
    with ``R`` a near-rotation (largest angle ``strength * SENSOR_ANGLE[m]``), log ``s`` of sd
    ``strength * SENSOR_LOG_SCALE[m]``, ``b`` of sd ``strength * SENSOR_OFFSET[m]``.

    Shape:
        returns: A (dim, dim) float64, b (dim,) float64 (cached: do not modify them)
    """
    rng = common.rng_for(seed, "msa", "zoo", "sensor", m)
    rot = common.near_rotation(rng, dim, strength * SENSOR_ANGLE[m])  # (I, I)
    scale = np.exp(strength * SENSOR_LOG_SCALE[m] * rng.standard_normal(dim))  # (I,)
    offset = strength * SENSOR_OFFSET[m] * rng.standard_normal(dim)  # (I,)
    return rot * scale[None, :], offset


def _sensor(split: Split, seed: int, strength: float, split_name: str) -> Split:
    feats = dict(split.features)
    for m, x in split.features.items():
        a, b = sensor_map(seed, m, x.shape[2], strength)
        y = np.einsum("nli,ij->nlj", x, a.astype(np.float32)) + b.astype(np.float32)  # (N, L, I)
        feats[m] = (y * _valid(split, m)).astype(np.float32)
    return replace(split, features=feats)


def _reliability(split: Split, seed: int, strength: float, split_name: str) -> Split:
    rng = common.rng_for(seed, "msa", "zoo", "reliability", split_name)
    feats, lengths = dict(split.features), dict(split.lengths)
    n = len(split)
    # audio: recordings cut short (a shorter true length)
    keep = rng.uniform(1.0 - strength * RELIABILITY_CUT, 1.0, size=n)
    lengths["audio"] = np.maximum(1, np.floor(split.lengths["audio"] * keep)).astype(np.int64)
    for m in ("text", "vision", "audio"):
        x = feats[m]  # (N, L, I)
        noise = rng.standard_normal(x.shape, dtype=np.float32)
        drift = rng.standard_normal((n, 1, x.shape[2]), dtype=np.float32)  # per recording
        x = x + np.float32(strength * RELIABILITY_NOISE[m]) * noise
        feats[m] = x + np.float32(strength * RELIABILITY_DRIFT[m]) * drift
    for m, share in RELIABILITY_GAPS.items():
        feats[m], lengths[m] = insert_gaps(feats[m], lengths[m], strength * share, rng)
    for m, share in RELIABILITY_MISSING.items():
        missing = rng.random(n) < strength * share  # (N,)
        feats[m] = feats[m] * ~missing[:, None, None]
        lengths[m] = np.where(missing, 1, lengths[m]).astype(np.int64)
    out = replace(split, features=feats, lengths=lengths)
    for m in feats:  # zero after the (new) true lengths
        feats[m] = (feats[m] * _valid(out, m)).astype(np.float32)
    return out


def insert_gaps(
    x: np.ndarray, lengths: np.ndarray, share: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Zero steps inserted at random places, about ``share`` per real step (while the sequence
    fits in ``L``); the real steps keep their order and the true length grows.

    Shape:
        x: (N, L, I); lengths: (N,); returns: (N, L, I) float32, (N,) int64
    """
    n, length, _ = x.shape
    gaps = np.minimum(rng.binomial(lengths, min(share, 1.0)), length - lengths)  # (N,)
    out = np.zeros_like(x)
    for i in range(n):
        total = int(lengths[i] + gaps[i])
        real = np.sort(rng.choice(total, size=int(lengths[i]), replace=False))  # new positions
        out[i, real] = x[i, : lengths[i]]
    return out, (lengths + gaps).astype(np.int64)


def resample(x: np.ndarray, lengths: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Frames resampled at ``rate`` times the frame rate by linear interpolation: new frame
    ``j`` is the old sequence at time ``j / rate``; ``round(n * rate)`` frames (at least 1).

    Shape:
        x: (N, L, I); lengths: (N,); returns: (N, L, I) float32, (N,) int64
    """
    n, length, _ = x.shape
    new = np.clip(np.rint(lengths * rate), 1, length).astype(np.int64)
    out = np.zeros_like(x)
    for i in range(n):
        pos = np.minimum(np.arange(new[i]) / rate, lengths[i] - 1)  # (L',) old time of each
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, lengths[i] - 1)
        w = (pos - lo)[:, None].astype(np.float32)  # (L', 1)
        out[i, : new[i]] = (1 - w) * x[i, lo] + w * x[i, hi]
    return out, new


def _length(split: Split, seed: int, strength: float, split_name: str) -> Split:
    rate = _lerp(1.0, LENGTH_RATE, strength)
    feats, lengths = dict(split.features), dict(split.lengths)
    for m in ("vision", "audio"):
        feats[m], lengths[m] = resample(split.features[m], split.lengths[m], rate)
    return replace(split, features=feats, lengths=lengths)


#: Feature-level effects, applied in this order (frame rate, sensor, then reliability).
_FEATURE_EFFECTS = {"length": _length, "sensor": _sensor, "reliability": _reliability}


def generate_msa_shift(
    kind: str, *, seed: int = 0, size: common.SizeSpec = "small"
) -> tuple[Domain, Domain]:
    """The source and target of one kind of the zoo (:data:`SHIFT_KINDS`; :data:`NONE`: the
    target drawn like the source), all splits labelled. The source is the built-in msa source.

    The target has the source's split sizes (1500 / 300 / 500 at ``"small"``), so that the
    oracle (supervised on the target) learns from as many rows as Direct Transfer.

    Shape:
        as :func:`osan.data.generators.msa.generate_msa`; ``dims``: target vision 20, audio 5
    """
    if kind != NONE and kind not in SHIFT_KINDS:
        raise ValueError(f"unknown msa shift kind {kind!r}; choose from {list(KINDS)}")
    effects = dict(SHIFT_KINDS[kind].effects) if kind != NONE else {}
    knobs = MSAShift(
        rotation=0.0,
        affine=0.0,
        novel_similarity=VOCABULARY_SIMILARITY if "vocabulary" in effects else 0.4,
        dims="mmsa" if "dims" in effects else "same",
    )
    world = build_world(seed, knobs)
    source = _domain_specs(MSAShift(shift=0.0).scaled())["source"]
    specs = {"source": source, "target": _target_spec(source, effects)}

    def finish(role: str, split_name: str, split: Split) -> Split:
        if role == "source":
            return split
        for name, fn in _FEATURE_EFFECTS.items():
            if name in effects:
                split = fn(split, seed, effects[name], split_name)
        return split

    meta = {"generator": "msa", "seed": seed, "size": size, "shift_kind": kind, "shift": effects}
    sizes = {"source": BASE_SIZES["source"], "target": BASE_SIZES["source"]}  # drawn alike
    return sample_domains(
        world, specs, seed=seed, size=size, meta=meta, finish=finish, base_sizes=sizes
    )

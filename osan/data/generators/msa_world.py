"""The fixed world of the generated sentiment benchmark, shared by both domains and fixed by the
seed: the vocabulary and its word-embedding table, the latent vision and audio channels, and
each domain's linear sensor view of them (``osan/data/generators/msa.py`` samples from it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from osan.data.generators import common
from osan.data.generators.msa_lexicon import (
    DISFLUENCIES,
    FUNCTION_WORDS,
    INTENSIFIERS,
    NEGATORS,
    NOVEL_RELATIVES,
    POLARITY_SHARE,
    SENTIMENT_CONCEPTS,
    SPECIALS,
    SYNONYM_CLOSENESS,
    TOPIC_GROUPS,
)
from osan.data.generators.msa_shift import MSAShift

TEXT_DIM = 768
# (audio, vision) dims of the MMSA release: MOSEI 74 / 35, MOSI 5 / 20.
MMSA_DIMS = {"source": {"audio": 74, "vision": 35}, "target": {"audio": 5, "vision": 20}}

# --- the fixed world: vocabulary, embeddings, latent channels ----------------------------------

VISION_CHANNELS = (
    "au12_smile", "au06_cheek", "au04_brow_lower", "au15_lip_depress", "au01_brow_raise",
    "au25_lips_part", "head_yaw", "head_pitch", "head_roll", "gaze_x", "gaze_y", "blink",
)  # fmt: skip
# Loadings of the six action units on (positive drive, negative drive, arousal).
AU_LOADINGS = np.array(
    [
        [1.0, 0.0, 0.2],
        [0.7, 0.0, 0.2],
        [0.0, 1.0, 0.2],
        [0.0, 0.8, 0.1],
        [0.1, 0.3, 0.6],
        [0.2, 0.2, 0.5],
    ]
)
AUDIO_SIGN = 0.05  # how much the sign of the sentiment moves pitch / energy / rate
AUDIO_CHANNELS = (
    "f0_level", "f0_range", "energy", "energy_range", "speech_rate", "breathiness",
    "speaker_f0", "channel_gain",
)  # fmt: skip


@dataclass
class World:
    """Everything shared by both domains (fixed by the seed): the vocabulary and its embedding
    table, and the random directions used to build each domain's sensor views."""

    vocab: dict[str, int]
    table: np.ndarray  # (V, 768) float32
    views: dict[str, dict[str, np.ndarray]]  # domain -> modality -> (K, I)
    offsets: dict[str, dict[str, np.ndarray]]  # domain -> modality -> (I,)


def _sentiment_embeddings(
    rng: np.random.Generator, dim: int, novel_similarity: float
) -> dict[str, np.ndarray]:
    """Synonyms cluster around their concept's centre; a target-only word is a blend of its
    source relative (``NOVEL_RELATIVES``) and a word-specific direction, with cosine
    ``novel_similarity`` to the relative."""
    polarity_axis = rng.standard_normal(dim)
    centres = []
    for strength, _ in SENTIMENT_CONCEPTS:
        own = rng.standard_normal(dim)
        shared = POLARITY_SHARE * np.sign(strength) * polarity_axis
        centres.append(shared + np.sqrt(1 - POLARITY_SHARE**2) * own)
    clusters = [[w for w, u in words if u != "t"] for _, words in SENTIMENT_CONCEPTS]
    emb = common.cluster_embeddings(
        rng, clusters, dim, closeness=SYNONYM_CLOSENESS, cluster_axes=np.array(centres), scale=0.5
    )
    for novel in sorted(NOVEL_RELATIVES):
        relative = emb[NOVEL_RELATIVES[novel]]
        own = 0.5 * rng.standard_normal(dim)
        blend = novel_similarity * relative + np.sqrt(1 - novel_similarity**2) * own
        emb[novel] = blend.astype(np.float32)
    return emb


def _build_vocab(
    rng: np.random.Generator, novel_similarity: float
) -> tuple[dict[str, int], np.ndarray]:
    emb: dict[str, np.ndarray] = {}
    emb.update(_sentiment_embeddings(rng, TEXT_DIM, novel_similarity))
    emb.update(common.cluster_embeddings(rng, [NEGATORS], TEXT_DIM, closeness=0.7, scale=0.5))
    intens = [[w for w, _ in INTENSIFIERS]]
    emb.update(common.cluster_embeddings(rng, intens, TEXT_DIM, closeness=0.7, scale=0.5))
    topics = [list(words) for _, words, _ in TOPIC_GROUPS]
    emb.update(common.cluster_embeddings(rng, topics, TEXT_DIM, closeness=0.5, scale=0.5))
    singles = [[w] for w in (*FUNCTION_WORDS, *DISFLUENCIES, *SPECIALS)]
    emb.update(common.cluster_embeddings(rng, singles, TEXT_DIM, closeness=0.0, scale=0.5))
    words = sorted(emb)
    vocab = {w: i for i, w in enumerate(words)}
    table = np.stack([emb[w] for w in words]).astype(np.float32)
    return vocab, table


def build_world(seed: int, knobs: MSAShift) -> World:
    """The shared world. Each part has its own random stream, so the source is the same whatever
    the target's knobs."""
    vocab, table = _build_vocab(common.rng_for(seed, "msa", "vocab"), knobs.novel_similarity)
    n_lat = {"vision": len(VISION_CHANNELS), "audio": len(AUDIO_CHANNELS)}
    views: dict[str, dict[str, np.ndarray]] = {"source": {}, "target": {}}
    offsets: dict[str, dict[str, np.ndarray]] = {"source": {}, "target": {}}
    for m in ("vision", "audio"):
        k, i_src, i_mmsa = n_lat[m], MMSA_DIMS["source"][m], MMSA_DIMS["target"][m]
        src_rng = common.rng_for(seed, "msa", "view", m, "source")
        views["source"][m] = src_rng.standard_normal((k, i_src)) / np.sqrt(k)
        offsets["source"][m] = 0.5 * src_rng.standard_normal(i_src)
        if knobs.dims == "mmsa":
            # A different sensor: another random linear view of the same latent channels.
            tgt_rng = common.rng_for(seed, "msa", "view", m, "target")
            view = tgt_rng.standard_normal((k, i_mmsa)) / np.sqrt(k)
            offset = 0.5 * tgt_rng.standard_normal(i_mmsa)
        else:
            view, offset = views["source"][m], offsets["source"][m]
        shift_rng = common.rng_for(seed, "msa", "shift", m, knobs.dims)
        rot = common.near_rotation(shift_rng, k, knobs.rotation)  # (K, K)
        log_scale = shift_rng.standard_normal(view.shape[1])
        move = shift_rng.standard_normal(view.shape[1])
        # The target sees rotated latent channels, each output channel rescaled and shifted.
        scale = np.exp(0.5 * knobs.affine * log_scale)  # (I,)
        channel_sd = np.sqrt((view**2).sum(axis=0))  # (I,) sd of a unit-variance latent's image
        views["target"][m] = (rot @ view) * scale[None, :]
        offsets["target"][m] = offset * scale + 0.5 * knobs.affine * channel_sd * move
    return World(vocab=vocab, table=table, views=views, offsets=offsets)

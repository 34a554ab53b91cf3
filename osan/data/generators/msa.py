"""Generated multimodal sentiment analysis benchmark: a CMU-MOSEI-like source and a CMU-MOSI-like
target in the MMSA layout (``text`` / ``vision`` / ``audio`` padded sequences with true lengths,
sentiment labels in [-3, 3] averaged over annotators).

Generative process (see ``docs/data.md``, "Generated benchmarks", for the full account):

1. a latent sentiment ``s*`` per utterance (a Gaussian for the source, a two-mode mixture for the
   target), annotated by ``k`` noisy annotators who each round to an integer in [-3, 3]; the label
   is their mean (a value on the 1/k grid);
2. ``text``: an actual token sequence whose sentiment words (with strengths), negators and
   intensifiers follow ``s*``; per-token features are a fixed word-embedding table plus noise;
3. ``vision``: facial-action-like channels whose bursts follow the positive / negative drive of
   ``s*`` times a speaker expressiveness, plus head-pose / gaze / blink nuisance, seen through a
   domain-specific linear sensor view;
4. ``audio``: pitch / energy / rate channels driven mostly by ``|s*|`` (the sign only weakly), plus
   speaker and channel nuisance, seen through a domain-specific linear sensor view.

The source and target share the latent-to-label relation; they differ by the shift knobs of
:class:`MSAShift`.

The lexicon lives in ``msa_lexicon.py``, the shift knobs in ``msa_shift.py`` and the fixed world
(vocabulary, embeddings, latent channels, sensor views) in ``msa_world.py``; this module holds the
per-domain parameters and the sampling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np

from osan.data.domain import Domain, Split
from osan.data.generators import common
from osan.data.generators.msa_lexicon import (
    DISFLUENCIES,
    FUNCTION_WORDS,
    INTENSIFIER_GAIN,
    INTENSIFIERS,
    NEGATORS,
    NOVEL_RELATIVES,
    POLARITY,
    POLARITY_SHARE,
    SENTIMENT_CONCEPTS,
    SPECIALS,
    SYNONYM_CLOSENESS,
    TOPIC_GROUPS,
    text_polarity,
)
from osan.data.generators.msa_shift import MSAShift, make_shift
from osan.data.generators.msa_world import (
    AU_LOADINGS,
    AUDIO_CHANNELS,
    AUDIO_SIGN,
    MMSA_DIMS,
    TEXT_DIM,
    VISION_CHANNELS,
    World,
    build_world,
)
from osan.types import SPLITS

#: Importable from here as before the split into msa_lexicon / msa_shift / msa_world.
__all__ = [
    "AUDIO_CHANNELS",
    "AUDIO_SIGN",
    "AU_LOADINGS",
    "BASE_SIZES",
    "DISFLUENCIES",
    "FUNCTION_WORDS",
    "INTENSIFIERS",
    "INTENSIFIER_GAIN",
    "MAX_FRAMES",
    "MAX_TEXT_LEN",
    "MMSA_DIMS",
    "MODALITIES",
    "MSAShift",
    "NEGATORS",
    "NOVEL_RELATIVES",
    "POLARITY",
    "POLARITY_SHARE",
    "SENTIMENT_CONCEPTS",
    "SOURCE_NAME",
    "SPECIALS",
    "SYNONYM_CLOSENESS",
    "TARGET_NAME",
    "TEXT_DIM",
    "TOPIC_GROUPS",
    "VISION_CHANNELS",
    "generate_msa",
    "make_shift",
    "text_polarity",
]

SOURCE_NAME = "synth_mosei"
TARGET_NAME = "synth_mosi"
MODALITIES = ("text", "vision", "audio")
MAX_TEXT_LEN = 50
MAX_FRAMES = 50
BASE_SIZES = {
    "source": {"train": 1500, "valid": 300, "test": 500},
    "target": {"train": 1000, "valid": 200, "test": 500},
}

# --- per-domain parameters --------------------------------------------------------------------


@dataclass(frozen=True)
class _DomainSpec:
    name: str
    role: str  # "source" | "target"
    latent_mean: float
    latent_mode: float  # distance of the two mixture modes from the mean (0: one Gaussian)
    latent_sd: float
    annotators: int
    words_mean: float  # text tokens (without [CLS]/[SEP])
    words_sd: float
    frames_per_word: float
    negation_rate: float
    disfluency_rate: float
    novel_words: float  # probability of a target-only synonym
    topic_probs: tuple[float, float, float]  # source-only, shared, target-only topic groups
    expressiveness: float
    noise: float  # multiplier of every noise sd
    lexicon: str = ""  # whose sentiment words the text uses ("source" | "target"); "": role


def _lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


def _domain_specs(knobs: MSAShift) -> dict[str, _DomainSpec]:
    source = _DomainSpec(
        name=SOURCE_NAME,
        role="source",
        latent_mean=0.15,
        latent_mode=0.0,
        latent_sd=1.05,
        annotators=3,
        words_mean=26.0,
        words_sd=9.0,
        frames_per_word=1.4,
        negation_rate=0.1,
        disfluency_rate=0.03,
        novel_words=0.0,
        topic_probs=(0.8, 0.2, 0.0),
        expressiveness=1.0,
        noise=1.0,
    )
    ls, lt, st = knobs.label_shift, knobs.length_shift, knobs.style_shift
    ts = knobs.topic_shift
    target = replace(
        source,
        name=TARGET_NAME,
        role="target",
        latent_mean=_lerp(0.15, 0.07, ls),
        latent_mode=_lerp(0.0, 1.2, ls),
        latent_sd=_lerp(1.05, 0.9, ls),
        annotators=5 if ls >= 0.5 else 3,
        words_mean=_lerp(26.0, 15.0, lt),
        words_sd=_lerp(9.0, 6.0, lt),
        negation_rate=min(_lerp(0.1, 0.2, st), 0.9),
        disfluency_rate=min(_lerp(0.03, 0.1, st), 0.5),
        novel_words=knobs.novel_words,
        topic_probs=(0.8 * (1 - ts), 0.2 + 0.1 * ts, 0.7 * ts),
        expressiveness=_lerp(1.0, 1.3, st),
        noise=1.0 + knobs.noise,
    )
    return {"source": source, "target": target}


# --- sampling -----------------------------------------------------------------------------------


def _sample_sentiment(
    rng: np.random.Generator, spec: _DomainSpec, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Latent sentiment and its annotator-averaged label.

    Shape:
        returns: latent (n,) float64, labels (n,) float32 on the 1/k grid of [-3, 3]
    """
    mode = np.where(rng.random(n) < 0.5, -1.0, 1.0) * spec.latent_mode
    latent = spec.latent_mean + mode + spec.latent_sd * rng.standard_normal(n)
    votes = latent[:, None] + 0.6 * rng.standard_normal((n, spec.annotators))
    labels = np.clip(np.rint(votes), -3, 3).mean(axis=1)
    return latent, labels.astype(np.float32)


def _words_by_usage(items: tuple[tuple[str, str], ...], role: str, novel: float) -> tuple:
    """(words, probabilities) a domain uses for one synonym set."""
    if role == "source":
        words = [w for w, u in items if u in ("b", "s")]
        return words, np.full(len(words), 1.0 / len(words))
    shared = [w for w, u in items if u == "b"]
    new = [w for w, u in items if u == "t"]
    if not new or novel <= 0:
        return shared, np.full(len(shared), 1.0 / len(shared))
    probs = [(1 - novel) / len(shared)] * len(shared) + [novel / len(new)] * len(new)
    return shared + new, np.array(probs)


class _TextSampler:
    """Draws token sequences whose sentiment words follow the latent sentiment."""

    def __init__(self, spec: _DomainSpec) -> None:
        self.spec = spec
        self.strengths = np.array([s for s, _ in SENTIMENT_CONCEPTS])
        role = spec.lexicon or spec.role
        self.synonyms = [
            _words_by_usage(words, role, spec.novel_words) for _, words in SENTIMENT_CONCEPTS
        ]
        self.intensifiers = _words_by_usage(INTENSIFIERS, role, spec.novel_words)
        groups = {"s": [], "b": [], "t": []}
        for _, words, usage in TOPIC_GROUPS:
            groups[usage].extend(words)
        self.topic_groups = [groups["s"], groups["b"], groups["t"]]
        self.topic_probs = np.array(spec.topic_probs) / np.sum(spec.topic_probs)

    def _pick(self, rng: np.random.Generator, options: tuple) -> str:
        words, probs = options
        return words[rng.choice(len(words), p=probs)]

    def _phrase(self, rng: np.random.Generator, s: float) -> list[str]:
        spec = self.spec
        sign = 1.0 if rng.random() < 1.0 / (1.0 + np.exp(-2.0 * s)) else -1.0
        negate = rng.random() < spec.negation_rate
        intensify = rng.random() < 0.12 * abs(s)
        want = float(np.clip(abs(s) + 0.5 * rng.standard_normal(), 0.5, 3.2))
        if intensify:
            want /= INTENSIFIER_GAIN
        word_sign = -sign if negate else sign
        ok = np.sign(self.strengths) == word_sign
        w = np.where(ok, np.exp(-((np.abs(self.strengths) - want) ** 2) / (2 * 0.6**2)), 0.0)
        concept = rng.choice(len(w), p=w / w.sum())
        phrase = [self._pick(rng, self.synonyms[concept])]
        if intensify:
            phrase.insert(0, self._pick(rng, self.intensifiers))
        if negate:
            phrase.insert(0, NEGATORS[rng.choice(len(NEGATORS), p=[0.6, 0.25, 0.15])])
        return phrase

    def _fillers(self, rng: np.random.Generator, n: int) -> list[str]:
        """``n`` non-sentiment words: disfluencies, topic words and function words."""
        u = rng.random(n)
        group = rng.choice(3, size=n, p=self.topic_probs)
        pick = rng.random(n)
        out = []
        for ui, gi, pi in zip(u, group, pick, strict=True):
            if ui < self.spec.disfluency_rate:
                pool = DISFLUENCIES
            elif ui < self.spec.disfluency_rate + 0.3:
                pool = self.topic_groups[gi]
            else:
                pool = FUNCTION_WORDS
            out.append(pool[int(pi * len(pool))])
        return out

    def sample(self, rng: np.random.Generator, s: float, n_words: int) -> list[str]:
        n_phrases = min(int(rng.poisson(0.6 + 0.9 * abs(s))), 5)
        phrases = [self._phrase(rng, s) for _ in range(n_phrases)]
        n_fill = max(n_words - sum(len(p) for p in phrases), 2)
        tokens = self._fillers(rng, n_fill)
        slots = np.sort(rng.integers(0, n_fill + 1, size=n_phrases))[::-1]
        for slot, phrase in zip(slots, phrases, strict=True):
            tokens[slot:slot] = phrase
        return tokens


def _text_modality(
    rng: np.random.Generator, world: World, spec: _DomainSpec, latent: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Token sequences, their features, raw text and word counts.

    Shape:
        latent: (N,)
        returns: features (N, 50, 768), lengths (N,), N strings, n_words (N,)
    """
    n = latent.shape[0]
    sampler = _TextSampler(spec)
    n_words = common.sample_lengths(rng, n, spec.words_mean, spec.words_sd, 4, MAX_TEXT_LEN - 2)
    raw, sequences = [], []
    cls, sep = world.vocab["[CLS]"], world.vocab["[SEP]"]
    for i in range(n):
        tokens = sampler.sample(rng, float(latent[i]), int(n_words[i]))[: MAX_TEXT_LEN - 2]
        raw.append(" ".join(tokens))
        sequences.append([cls] + [world.vocab[t] for t in tokens] + [sep])
    ids, lengths = common.pad_token_ids(sequences, MAX_TEXT_LEN)
    feats = common.embed_tokens(ids, world.table, 0.15 * spec.noise, rng)
    return feats, lengths, raw, n_words


def _frames(rng: np.random.Generator, spec: _DomainSpec, n_words: np.ndarray) -> np.ndarray:
    """Frame counts that follow the utterance length, unaligned with the tokens.

    Shape:
        returns: (N,) int64 in [4, 50]
    """
    base = n_words * spec.frames_per_word * np.exp(0.2 * rng.standard_normal(n_words.shape))
    return np.clip(np.rint(base), 4, MAX_FRAMES).astype(np.int64)


def _drives(latent: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """(positive, negative, arousal) drive per utterance, scaled by expressiveness.

    Shape:
        latent, gain: (N,); returns: (N, 3)
    """
    s = latent / 3.0
    return gain[:, None] * np.stack([np.maximum(s, 0), np.maximum(-s, 0), np.abs(s)], axis=1)


def _vision_latent(rng: np.random.Generator, spec: _DomainSpec, latent: np.ndarray) -> np.ndarray:
    """Facial-action-like channels (bursts that follow the sentiment on top of a speaker's resting
    face) and nuisance channels (head pose, gaze, blinks).

    Shape:
        returns: (N, 50, 12) float32, the channels of ``VISION_CHANNELS``
    """
    n = latent.shape[0]
    gain = spec.expressiveness * np.exp(0.5 * rng.standard_normal(n))
    drive = _drives(latent, gain) @ AU_LOADINGS.T  # (N, 6)
    rate = np.clip(0.03 + 0.12 * drive, 0.0, 0.5)
    aus = common.bursts(rng, rate, 0.3 + 0.8 * drive, MAX_FRAMES, width=1.5)  # (N, L, 6)
    resting = 0.3 * rng.exponential(1.0, size=(n, 1, 6))  # speaker's resting face per AU
    aus += resting
    pose = common.random_walk(rng, n, MAX_FRAMES, 5, step=0.3)  # (N, L, 5)
    blink = common.bursts(rng, np.full((n, 1), 0.1), np.ones((n, 1)), MAX_FRAMES, width=0.7)
    z = np.concatenate([aus, pose, blink], axis=2)  # (N, L, 12)
    return z.astype(np.float32)


def _audio_latent(rng: np.random.Generator, latent: np.ndarray) -> np.ndarray:
    """Prosody channels: level and range of pitch and energy follow ``|s*|``, the sign only
    weakly (``AUDIO_SIGN``); speaker pitch and channel gain are nuisances that the speaker and
    channel channels reveal only in part.

    Shape:
        returns: (N, 50, 8) float32, the channels of ``AUDIO_CHANNELS``
    """
    n, length = latent.shape[0], MAX_FRAMES
    s = latent / 3.0
    arousal = np.abs(s) * np.exp(0.3 * rng.standard_normal(n))
    speaker_f0 = rng.standard_normal(n)
    gain = 0.5 * rng.standard_normal(n)

    def per_frame(level: np.ndarray, spread: float | np.ndarray) -> np.ndarray:
        # (N,) level and spread -> (N, L) frame values
        spread = np.broadcast_to(spread, (n,))
        return level[:, None] + spread[:, None] * rng.standard_normal((n, length))

    def utterance_noise(sd: float) -> np.ndarray:
        return sd * rng.standard_normal(n)

    sign = AUDIO_SIGN * s
    f0 = per_frame(0.5 * speaker_f0 + sign + 0.3 * arousal + utterance_noise(0.2), 0.2)
    f0_range = per_frame(0.3 + 0.6 * arousal + utterance_noise(0.2), 0.2)
    energy = per_frame(gain + 0.5 * arousal + sign + utterance_noise(0.2), 0.3)
    energy_range = per_frame(0.2 + 0.5 * arousal + utterance_noise(0.2), 0.2)
    rate = per_frame(0.4 * arousal - sign + utterance_noise(0.3), 0.4)
    breath = per_frame(-0.3 * arousal + utterance_noise(0.3), 0.3)
    spk = per_frame(0.5 * speaker_f0 + utterance_noise(0.3), 0.1)
    chan = per_frame(gain + utterance_noise(0.2), 0.05)
    z = np.stack([f0, f0_range, energy, energy_range, rate, breath, spk, chan], axis=2)  # (N,L,8)
    return z.astype(np.float32)


def _split(rng: np.random.Generator, world: World, spec: _DomainSpec, split: str, n: int) -> Split:
    latent, labels = _sample_sentiment(rng, spec, n)
    text, text_len, raw, n_words = _text_modality(rng, world, spec, latent)
    frames_v = _frames(rng, spec, n_words)
    frames_a = _frames(rng, spec, n_words)
    z_v = _vision_latent(rng, spec, latent)
    z_a = _audio_latent(rng, latent)
    views, offsets = world.views[spec.role], world.offsets[spec.role]
    vision = common.observe(
        z_v, frames_v, views["vision"], offsets["vision"], 0.3 * spec.noise, rng
    )
    audio = common.observe(z_a, frames_a, views["audio"], offsets["audio"], 0.3 * spec.noise, rng)
    sp = Split(
        features={"text": text, "vision": vision, "audio": audio},
        lengths={"text": text_len, "vision": frames_v, "audio": frames_a},
        labels=labels,
        ids=common.sample_ids(spec.name, split, n),
        raw_text=raw,
    )
    return sp


def generate_msa(
    *, seed: int = 0, size: common.SizeSpec = "small", **shift_kw: object
) -> tuple[Domain, Domain]:
    """The generated CMU-MOSEI-like source and CMU-MOSI-like target, all splits labelled.

    ``shift_kw`` are the knobs of :class:`MSAShift` (e.g. ``dims="same"``, ``shift=0.5``).
    ``meta`` records the generator, seed, size and knobs, and nothing per sample (the latent
    sentiment would leak target labels); the text's word-level polarity can be recomputed from
    ``raw_text`` with :func:`text_polarity`.

    Shape:
        features["text"]: (N, 50, 768); features["vision"]: (N, 50, 35 | 20);
        features["audio"]: (N, 50, 74 | 5); lengths[m]: (N,); labels: (N,) in [-3, 3]
    """
    knobs = make_shift(**shift_kw)
    scaled = knobs.scaled()
    world = build_world(seed, scaled)
    meta = {"generator": "msa", "seed": seed, "size": size, "shift": asdict(knobs)}
    return sample_domains(world, _domain_specs(scaled), seed=seed, size=size, meta=meta)


def sample_domains(
    world: World,
    specs: dict[str, _DomainSpec],
    *,
    seed: int,
    size: common.SizeSpec,
    meta: dict[str, object],
    finish: Callable[[str, str, Split], Split] | None = None,
    base_sizes: dict[str, dict[str, int]] = BASE_SIZES,
) -> tuple[Domain, Domain]:
    """The source and target domains of ``specs`` drawn in ``world``, ``base_sizes[role]`` rows
    per split at size ``"small"``; ``finish(role, split, data)`` (the shift zoo's feature-level
    effects) may transform each drawn split."""
    domains = []
    for role, spec in specs.items():
        sizes = common.split_sizes(base_sizes[role], size)
        splits = {}
        for split in SPLITS:
            rng = common.rng_for(seed, "msa", role, split)
            splits[split] = _split(rng, world, spec, split, sizes[split])
            if finish is not None:
                splits[split] = finish(role, split, splits[split])
        dom_meta = {
            "generator": meta["generator"],
            "role": role,
            **{k: v for k, v in meta.items() if k != "generator"},
            "annotators": spec.annotators,
        }
        domains.append(Domain(name=spec.name, splits=splits, task="regression", meta=dom_meta))
    return domains[0], domains[1]

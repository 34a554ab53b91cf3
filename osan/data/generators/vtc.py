"""Generated video text classification benchmark: OCR'd texts of news videos (source) and of
variety shows (target), each to be classed Caption / Subtitle / Others (paper §4.2).

Per sample (one text track, visible over several frames):

1. a class (``Caption``, ``Subtitle``, ``Others``) from the domain's class prior, and for
   ``Others`` a kind (scrolling ticker, channel logo, background text);
2. ``text``: the OCR'd string, a token sequence drawn from the kind's word pool in the domain's
   language (formal news vs casual variety-show vocabulary, some words shared), styled (case,
   punctuation, symbols) and corrupted by OCR errors; per-token features are a fixed word
   embedding plus noise, followed by character-style cues;
3. ``layout``: one row per sampled frame the text is visible: position, size, time within the
   track, duration, motion, font size, boldness, background box, colour saturation, outline, blur
   and OCR confidence, drawn from the domain's layout conventions for the kind.

The source and target share the meaning of every feature; they differ by the knobs of
:class:`VTCShift`.

The word pools, layout and style conventions and class priors live in ``vtc_conventions.py``,
the shift knobs in ``vtc_shift.py``; this module holds the vocabulary and the sampling.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from osan.data.domain import Domain, Split
from osan.data.generators import common
from osan.data.generators.vtc_conventions import (
    FUNCTION_WORDS,
    KIND_PRIORS,
    LAYOUT,
    NUMBER_TOKEN,
    STYLE,
    SYMBOL_TOKEN,
    SYMBOLS,
    UNK_TOKEN,
    WORD_POOLS,
)
from osan.data.generators.vtc_shift import VTCShift, make_shift
from osan.types import SPLITS

SOURCE_NAME = "synth_news"
TARGET_NAME = "synth_show"
CLASSES = ["Caption", "Subtitle", "Others"]
KINDS = ("caption", "subtitle", "ticker", "logo", "background")
KIND_CLASS = {"caption": 0, "subtitle": 1, "ticker": 2, "logo": 2, "background": 2}
WORD_DIM = 120
CUE_NAMES = (
    "all_caps", "title_case", "has_digit", "has_punct", "length", "symbol", "garbled", "ocr_conf",
)  # fmt: skip
TEXT_DIM = WORD_DIM + len(CUE_NAMES)
MAX_TOKENS = 24
FPS = 2.0
MAX_FRAMES = 24
LAYOUT_NAMES = (
    "x", "y", "width", "height", "t_frac", "log_duration", "dx", "dy", "pop", "font_size",
    "bold", "box", "saturation", "stroke", "blur", "ocr_conf",
)  # fmt: skip
LAYOUT_DIM = len(LAYOUT_NAMES)
BASE_SIZES = {
    "source": {"train": 1500, "valid": 300, "test": 500},
    "target": {"train": 1000, "valid": 200, "test": 500},
}

# --- the world: vocabulary and embeddings ------------------------------------------------------


def _build_vocab(seed: int, word_similarity: float) -> tuple[dict[str, int], np.ndarray]:
    """Word table: words of a kind share its centre; function words and special tokens are
    unrelated to each other.

    Shape:
        returns: vocab word -> row, table (V, WORD_DIM) float32
    """
    rng = common.rng_for(seed, "vtc", "vocab")
    clusters = [[w for pool in WORD_POOLS[k] for w in pool] for k in KINDS]
    emb = common.cluster_embeddings(rng, clusters, WORD_DIM, closeness=word_similarity, scale=0.5)
    singles = [[w] for w in (*FUNCTION_WORDS, NUMBER_TOKEN, SYMBOL_TOKEN, UNK_TOKEN)]
    emb.update(common.cluster_embeddings(rng, singles, WORD_DIM, closeness=0.0, scale=0.5))
    words = sorted(emb)
    return {w: i for i, w in enumerate(words)}, np.stack([emb[w] for w in words])


# --- per-domain parameters ------------------------------------------------------------------------


@dataclass(frozen=True)
class _DomainSpec:
    name: str
    role: str
    kind_prior: dict[str, float]
    layout: dict[str, dict]
    style: dict[str, dict]
    language: float  # probability that a content word comes from the show-only pool
    noise: float


def _lerp_params(a: dict, b: dict, t: float) -> dict:
    out = {}
    for key, va in a.items():
        vb = b[key]
        if isinstance(va, dict):
            keys = sorted(set(va) | set(vb))
            out[key] = {k: va.get(k, 0.0) + (vb.get(k, 0.0) - va.get(k, 0.0)) * t for k in keys}
        elif isinstance(va, tuple) and isinstance(va[0], int):
            out[key] = tuple(int(round(x + (y - x) * t)) for x, y in zip(va, vb, strict=True))
        elif isinstance(va, tuple):
            out[key] = tuple(x + (y - x) * t for x, y in zip(va, vb, strict=True))
        else:
            out[key] = va + (vb - va) * t
    return out


def _domain_specs(knobs: VTCShift) -> dict[str, _DomainSpec]:
    source = _DomainSpec(
        name=SOURCE_NAME,
        role="source",
        kind_prior=KIND_PRIORS["news"],
        layout=LAYOUT["news"],
        style=STYLE["news"],
        language=0.0,
        noise=1.0,
    )
    target = _DomainSpec(
        name=TARGET_NAME,
        role="target",
        kind_prior=_lerp_params(KIND_PRIORS["news"], KIND_PRIORS["show"], knobs.prior_shift),
        layout={
            k: _lerp_params(LAYOUT["news"][k], LAYOUT["show"][k], knobs.layout_shift) for k in KINDS
        },
        style={
            k: _lerp_params(STYLE["news"][k], STYLE["show"][k], knobs.style_shift) for k in KINDS
        },
        language=knobs.language_shift,
        noise=1.0 + knobs.noise,
    )
    return {"source": source, "target": target}


# --- text ----------------------------------------------------------------------------------------


def _garble(rng: np.random.Generator, word: str) -> str:
    """An OCR misreading: one character replaced by a look-alike or a random letter."""
    look = {"o": "0", "l": "1", "i": "l", "e": "c", "a": "o", "s": "5", "t": "f", "n": "m"}
    j = int(rng.integers(len(word)))
    ch = look.get(word[j].lower(), "x")
    return word[:j] + ch + word[j + 1 :]


def _style(rng: np.random.Generator, word: str, style: dict) -> str:
    u = rng.random()
    if u < style["caps"]:
        return word.upper()
    if u < style["caps"] + style["title"]:
        return word.title()
    return word


def _sample_text(
    rng: np.random.Generator, kind: str, spec: _DomainSpec, conf: float
) -> tuple[list[str], list[str]]:
    """One OCR'd string as (display tokens, vocabulary keys)."""
    style = spec.style[kind]
    lo, hi = style["words"]
    n = int(rng.integers(lo, hi + 1))
    pools = sorted(style["mix"])
    mix = np.array([style["mix"][k] for k in pools])
    display, keys = [], []
    for _ in range(n):
        u = rng.random()
        if u < style["fn"]:
            word = FUNCTION_WORDS[rng.integers(len(FUNCTION_WORDS))]
        elif kind == "ticker" and u < style["fn"] + 0.3:
            word = NUMBER_TOKEN
        else:
            shared, news, show = WORD_POOLS[pools[rng.choice(len(pools), p=mix / mix.sum())]]
            if rng.random() < 0.25:
                pool = shared
            else:
                pool = show if rng.random() < spec.language else news
            word = pool[rng.integers(len(pool))]
        if word == NUMBER_TOKEN:
            text = f"{rng.choice(['+', '-'])}{rng.uniform(0.1, 9.9):.1f}%"
            display.append(text)
            keys.append(NUMBER_TOKEN)
            continue
        text = _style(rng, word, style)
        key = word
        if rng.random() < 0.6 * (1.0 - conf):
            text, key = _garble(rng, text), UNK_TOKEN
        display.append(text)
        keys.append(key)
    if rng.random() < style["punct"]:
        display[-1] += "!" if rng.random() < 0.7 else "?"
    if rng.random() < style["symbol"]:
        display.append(SYMBOLS[rng.integers(len(SYMBOLS))])
        keys.append(SYMBOL_TOKEN)
    return display, keys


def _char_cues(token: str, key: str, conf: float) -> list[float]:
    """The ``CUE_NAMES`` of one displayed token."""
    letters = [c for c in token if c.isalpha()]
    return [
        float(bool(letters) and all(c.isupper() for c in letters) and len(letters) > 1),
        float(token[:1].isupper() and not token.isupper()),
        float(any(c.isdigit() for c in token)),
        float(any(c in "!?" for c in token)),
        len(token) / 10.0,
        float(key == SYMBOL_TOKEN),
        float(key == UNK_TOKEN),
        conf,
    ]


def _text_modality(
    rng: np.random.Generator,
    vocab: dict[str, int],
    table: np.ndarray,
    spec: _DomainSpec,
    kinds: list[str],
    conf: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Token features (word embedding + noise, then character cues) and the raw strings.

    Shape:
        conf: (N,) OCR confidence per track
        returns: features (N, 24, 128) float32, lengths (N,), N strings
    """
    sequences, cues, raw = [], [], []
    for i, kind in enumerate(kinds):
        display, keys = _sample_text(rng, kind, spec, float(conf[i]))
        raw.append(" ".join(display))
        sequences.append([vocab[k] for k in keys])
        cues.append([_char_cues(t, k, float(conf[i])) for t, k in zip(display, keys, strict=True)])
    ids, lengths = common.pad_token_ids(sequences, MAX_TOKENS)
    words = common.embed_tokens(ids, table, 0.15 * spec.noise, rng)  # (N, L, WORD_DIM)
    cue = np.zeros((len(kinds), MAX_TOKENS, len(CUE_NAMES)), dtype=np.float32)
    for i, rows in enumerate(cues):
        rows = rows[:MAX_TOKENS]
        cue[i, : len(rows)] = rows
    return np.concatenate([words, cue], axis=2), lengths, raw


# --- layout --------------------------------------------------------------------------------------


def _track_attributes(
    rng: np.random.Generator, spec: _DomainSpec, kinds: list[str]
) -> dict[str, np.ndarray]:
    """Static attributes of each text track, from the domain's layout conventions of its kind.

    Shape:
        returns: name -> (N,) float64 (``frames``: int64, frames the text is visible at 2 fps)
    """
    n = len(kinds)

    def draw(key: str) -> np.ndarray:
        mean = np.array([spec.layout[k][key][0] for k in kinds])
        sd = np.array([spec.layout[k][key][1] for k in kinds])
        return mean + sd * rng.standard_normal(n)

    def flip(key: str) -> np.ndarray:
        return (rng.random(n) < np.array([spec.layout[k][key] for k in kinds])).astype(float)

    a = {"x": draw("x"), "y": draw("y"), "font": np.clip(draw("font"), 0.01, 0.2)}
    a["log_duration"], a["dx"], a["pop"] = draw("dur"), draw("dx"), np.abs(draw("pop"))
    a["saturation"], a["blur"] = np.clip(draw("sat"), 0, 1), np.clip(draw("blur"), 0, 1)
    a["ocr_conf"] = np.clip(draw("conf") - 0.3 * a["blur"], 0.05, 1.0)
    a["bold"], a["stroke"] = flip("bold"), flip("stroke")
    a["box"] = flip("box") * rng.uniform(0.5, 1.0, n)  # box opacity
    a["y"] = np.where(flip("top") > 0, 1.0 - a["y"], a["y"])
    frames = np.rint(np.exp(a["log_duration"]) * FPS)
    a["frames"] = np.clip(frames, 1, MAX_FRAMES).astype(np.int64)
    return a


def _layout_frames(
    rng: np.random.Generator, spec: _DomainSpec, a: dict[str, np.ndarray], n_chars: np.ndarray
) -> np.ndarray:
    """One layout row per frame: scrolling moves ``x``, pulsing ("pop") scales the box and
    bounces ``y``; every observation carries a little measurement noise.

    Shape:
        a[name]: (N,); n_chars: (N,)
        returns: (N, 24, 16) float32, zero after each track's frames
    """
    n = n_chars.shape[0]
    t = np.arange(MAX_FRAMES)[None, :] / FPS  # (1, L) seconds since the text appeared
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    wave = 3.0 * t + phase  # (N, L)
    pulse = 1.0 + a["pop"][:, None] * np.sin(wave)  # (N, L) size pulsing

    def track(value: np.ndarray, sd: float) -> np.ndarray:
        # (N,) or (N, L) value -> (N, L) per-frame observation with measurement noise
        value = value if value.ndim == 2 else value[:, None]
        return value + sd * spec.noise * rng.standard_normal((n, MAX_FRAMES))

    width = np.clip(n_chars * a["font"] * 0.55, 0.02, 1.0)
    bounce = 0.1 * a["pop"][:, None]
    rows = {
        "x": track(a["x"][:, None] + a["dx"][:, None] * t, 0.003),
        "y": track(a["y"][:, None] + bounce * np.cos(wave), 0.003),
        "width": track(width[:, None] * pulse, 0.003),
        "height": track(a["font"][:, None] * 1.2 * pulse, 0.002),
        "t_frac": t / (a["frames"][:, None] / FPS),
        "log_duration": track(a["log_duration"], 0.02),
        "dx": track(a["dx"], 0.01),
        "dy": track(-3.0 * bounce * np.sin(wave), 0.005),
        "pop": track(a["pop"], 0.02),
        "font_size": track(a["font"][:, None] * pulse, 0.002),
        "bold": track(a["bold"], 0.05),
        "box": track(a["box"], 0.03),
        "saturation": track(a["saturation"], 0.05),
        "stroke": track(a["stroke"], 0.05),
        "blur": track(a["blur"], 0.05),
        "ocr_conf": track(a["ocr_conf"], 0.03),
    }
    x = np.stack([rows[k] for k in LAYOUT_NAMES], axis=2)  # (N, L, 16)
    x *= common.time_mask(a["frames"], MAX_FRAMES)[:, :, None]
    return x.astype(np.float32)


# --- generation ----------------------------------------------------------------------------------


def _split(
    rng: np.random.Generator,
    vocab: dict[str, int],
    table: np.ndarray,
    spec: _DomainSpec,
    split: str,
    n: int,
) -> Split:
    prior = np.array([spec.kind_prior[k] for k in KINDS])
    kind_ids = rng.choice(len(KINDS), size=n, p=prior / prior.sum())
    kinds = [KINDS[k] for k in kind_ids]
    labels = np.array([KIND_CLASS[k] for k in kinds], dtype=np.int64)
    attrs = _track_attributes(rng, spec, kinds)
    text, text_len, raw = _text_modality(rng, vocab, table, spec, kinds, attrs["ocr_conf"])
    n_chars = np.array([len(r) for r in raw], dtype=np.float64)
    layout = _layout_frames(rng, spec, attrs, n_chars)
    frames = attrs["frames"]
    sp = Split(
        features={"text": text, "layout": layout},
        lengths={"text": text_len, "layout": frames},
        labels=labels,
        ids=common.sample_ids(spec.name, split, n),
        raw_text=raw,
    )
    return sp


def generate_vtc(
    *, seed: int = 0, size: common.SizeSpec = "small", **shift_kw: object
) -> tuple[Domain, Domain]:
    """The generated news source and variety-show target, all splits labelled.

    ``shift_kw`` are the knobs of :class:`VTCShift`. ``meta`` records the generator, seed, size
    and knobs, and nothing per sample (the kind of an ``Others`` text would be a finer label).

    Shape:
        features["text"]: (N, 24, 128) = 120 word dims + 8 character cues;
        features["layout"]: (N, 24, 16), one row per sampled frame (2 fps);
        lengths[m]: (N,); labels: (N,) int64 class ids of ``CLASSES``
    """
    knobs = make_shift(**shift_kw)
    scaled = knobs.scaled()
    vocab, table = _build_vocab(seed, knobs.word_similarity)
    table = table.astype(np.float32)
    domains = []
    for role, spec in _domain_specs(scaled).items():
        sizes = common.split_sizes(BASE_SIZES[role], size)
        splits = {}
        for split in SPLITS:
            rng = common.rng_for(seed, "vtc", role, split)
            splits[split] = _split(rng, vocab, table, spec, split, sizes[split])
        meta = {
            "generator": "vtc",
            "role": role,
            "seed": seed,
            "size": size,
            "shift": asdict(knobs),
        }
        domains.append(
            Domain(
                name=spec.name,
                splits=splits,
                task="classification",
                classes=list(CLASSES),
                meta=meta,
            )
        )
    return domains[0], domains[1]

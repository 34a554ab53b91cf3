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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from osan.data.domain import Domain, Split
from osan.data.generators import common
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

# --- language ---------------------------------------------------------------------------------
# Word pools per kind: (shared by both domains, news only, variety-show only). Words of one kind
# share a semantic centre, so a show-only word lies near the news words of its kind.
FUNCTION_WORDS = (
    "the", "a", "of", "to", "and", "in", "is", "we", "you", "it", "for", "on", "this", "that",
    "i", "be", "have", "are", "with", "will", "at", "was", "they", "not",
)  # fmt: skip
WORD_POOLS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "subtitle": (
        ("people", "today", "think", "know", "time", "going", "really", "said", "want", "here"),
        ("government", "officials", "minister", "according", "reported", "police", "economy",
         "percent", "committee", "announced", "citizens", "authorities", "statement", "measures",
         "region", "continue", "support", "situation", "investigation", "believe"),
        ("oh", "wow", "yeah", "gonna", "guys", "okay", "look", "seriously", "crazy", "funny",
         "eat", "delicious", "hey", "come", "why", "what", "sorry", "wait", "scared", "haha"),
    ),
    "caption": (
        ("new", "first", "world", "live", "home", "family", "year", "win"),
        ("breaking", "update", "budget", "election", "results", "crisis", "talks", "summit",
         "floods", "markets", "exclusive", "report", "interview", "plan", "vote", "strike"),
        ("omg", "lol", "cute", "awkward", "shocked", "legend", "boss", "mission", "round",
         "fail", "tears", "savage", "epic", "genius", "squad", "challenge"),
    ),
    "ticker": (
        ("weather", "sports", "score"),
        ("dow", "nasdaq", "ftse", "nikkei", "stocks", "oil", "gold", "shares", "index", "sunny",
         "rain", "cloudy", "traffic"),
        ("sponsored", "presented", "tickets", "tonight", "episode", "voting", "app"),
    ),
    "logo": (
        ("hd", "tv", "channel"),
        ("news24", "ch7", "worldnews", "globalnet"),
        ("funtv", "starshow", "showplus", "happyhour"),
    ),
    "background": (
        ("exit", "open", "stop", "cafe", "sale", "street"),
        ("hotel", "bank", "parliament", "station", "airport", "office"),
        ("stage", "kitchen", "props", "prize", "studio", "menu"),
    ),
}  # fmt: skip
NUMBER_TOKEN = "[NUM]"
SYMBOL_TOKEN = "[SYM]"
UNK_TOKEN = "[UNK]"
SYMBOLS = ("♥", "★", "☆", "♪", "!!", "??")

# --- layout conventions -------------------------------------------------------------------------
# Per domain and kind: Gaussian (mean, sd) of x, y (0 top, 1 bottom), font size (fraction of the
# frame height), log-duration (seconds), horizontal motion dx (frame widths per second), pop
# (size-pulsing amplitude), saturation, blur and OCR confidence; probabilities of bold, box,
# outline and of the text being placed at the top instead (y -> 1 - y).
LAYOUT: dict[str, dict[str, dict[str, tuple[float, float] | float]]] = {
    "news": {
        "subtitle": dict(x=(0.5, 0.04), y=(0.87, 0.05), font=(0.045, 0.008), dur=(0.9, 0.4),
                         dx=(0.0, 0.005), pop=(0.0, 0.01), sat=(0.15, 0.12), blur=(0.1, 0.05),
                         conf=(0.92, 0.04), bold=0.35, box=0.4, stroke=0.4, top=0.03),
        "caption": dict(x=(0.42, 0.12), y=(0.80, 0.07), font=(0.05, 0.01), dur=(1.5, 0.45),
                        dx=(0.0, 0.01), pop=(0.0, 0.02), sat=(0.3, 0.15), blur=(0.1, 0.05),
                        conf=(0.93, 0.04), bold=0.6, box=0.7, stroke=0.25, top=0.08),
        "ticker": dict(x=(0.5, 0.1), y=(0.95, 0.02), font=(0.035, 0.005), dur=(2.2, 0.4),
                       dx=(-0.15, 0.04), pop=(0.0, 0.01), sat=(0.3, 0.15), blur=(0.15, 0.06),
                       conf=(0.85, 0.06), bold=0.3, box=0.85, stroke=0.1, top=0.05),
        "logo": dict(x=(0.88, 0.06), y=(0.08, 0.04), font=(0.03, 0.006), dur=(3.0, 0.3),
                     dx=(0.0, 0.003), pop=(0.0, 0.01), sat=(0.5, 0.2), blur=(0.1, 0.05),
                     conf=(0.8, 0.08), bold=0.6, box=0.2, stroke=0.2, top=0.0),
        "background": dict(x=(0.5, 0.22), y=(0.45, 0.2), font=(0.03, 0.012), dur=(1.5, 0.6),
                           dx=(0.0, 0.03), pop=(0.0, 0.02), sat=(0.3, 0.2), blur=(0.45, 0.15),
                           conf=(0.6, 0.12), bold=0.2, box=0.1, stroke=0.05, top=0.0),
    },
    "show": {
        "subtitle": dict(x=(0.5, 0.06), y=(0.85, 0.06), font=(0.065, 0.012), dur=(1.1, 0.4),
                         dx=(0.0, 0.005), pop=(0.05, 0.05), sat=(0.6, 0.2), blur=(0.1, 0.05),
                         conf=(0.9, 0.05), bold=0.7, box=0.2, stroke=0.8, top=0.25),
        "caption": dict(x=(0.5, 0.2), y=(0.55, 0.25), font=(0.068, 0.018), dur=(0.5, 0.45),
                        dx=(0.0, 0.05), pop=(0.12, 0.08), sat=(0.75, 0.15), blur=(0.12, 0.05),
                        conf=(0.85, 0.06), bold=0.85, box=0.3, stroke=0.85, top=0.0),
        "ticker": dict(x=(0.5, 0.1), y=(0.93, 0.03), font=(0.04, 0.006), dur=(2.0, 0.4),
                       dx=(-0.12, 0.04), pop=(0.0, 0.01), sat=(0.6, 0.15), blur=(0.15, 0.06),
                       conf=(0.85, 0.06), bold=0.5, box=0.7, stroke=0.3, top=0.2),
        "logo": dict(x=(0.15, 0.08), y=(0.1, 0.05), font=(0.04, 0.008), dur=(3.0, 0.3),
                     dx=(0.0, 0.003), pop=(0.05, 0.03), sat=(0.8, 0.15), blur=(0.1, 0.05),
                     conf=(0.8, 0.08), bold=0.8, box=0.3, stroke=0.5, top=0.0),
        "background": dict(x=(0.5, 0.22), y=(0.5, 0.2), font=(0.06, 0.02), dur=(1.3, 0.6),
                           dx=(0.0, 0.05), pop=(0.0, 0.02), sat=(0.7, 0.2), blur=(0.3, 0.15),
                           conf=(0.7, 0.12), bold=0.6, box=0.3, stroke=0.3, top=0.0),
    },
}  # fmt: skip
# Text styling per domain and kind: probabilities of ALL CAPS, Title Case, trailing punctuation,
# a symbol token; the token-count range; the share of function words; and the mixture of word
# pools the content words come from (captions quote speech, tickers carry headlines, ...).
STYLE: dict[str, dict[str, dict]] = {
    "news": {
        "subtitle": dict(caps=0.02, title=0.05, punct=0.05, symbol=0.0, words=(5, 14), fn=0.45,
                         mix=dict(subtitle=0.8, caption=0.2)),
        "caption": dict(caps=0.5, title=0.3, punct=0.05, symbol=0.0, words=(2, 8), fn=0.1,
                        mix=dict(caption=0.6, subtitle=0.4)),
        "ticker": dict(caps=0.5, title=0.2, punct=0.0, symbol=0.05, words=(4, 12), fn=0.1,
                       mix=dict(ticker=0.7, caption=0.3)),
        "logo": dict(caps=0.7, title=0.2, punct=0.0, symbol=0.0, words=(1, 3), fn=0.0,
                     mix=dict(logo=0.8, background=0.2)),
        "background": dict(caps=0.4, title=0.3, punct=0.0, symbol=0.0, words=(1, 5), fn=0.1,
                           mix=dict(background=0.6, caption=0.2, subtitle=0.2)),
    },
    "show": {
        "subtitle": dict(caps=0.05, title=0.1, punct=0.35, symbol=0.1, words=(3, 11), fn=0.4,
                         mix=dict(subtitle=0.7, caption=0.3)),
        "caption": dict(caps=0.35, title=0.2, punct=0.4, symbol=0.3, words=(1, 7), fn=0.2,
                        mix=dict(caption=0.5, subtitle=0.5)),
        "ticker": dict(caps=0.3, title=0.3, punct=0.1, symbol=0.1, words=(4, 10), fn=0.1,
                       mix=dict(ticker=0.6, caption=0.4)),
        "logo": dict(caps=0.5, title=0.3, punct=0.0, symbol=0.2, words=(1, 3), fn=0.0,
                     mix=dict(logo=0.7, background=0.3)),
        "background": dict(caps=0.4, title=0.3, punct=0.1, symbol=0.1, words=(1, 5), fn=0.1,
                           mix=dict(background=0.5, caption=0.3, subtitle=0.2)),
    },
}  # fmt: skip
# Probability of each kind: Caption, Subtitle, then the Others kinds (ticker, logo, background).
KIND_PRIORS = {
    "news": {"caption": 0.30, "subtitle": 0.50, "ticker": 0.10, "logo": 0.05, "background": 0.05},
    "show": {"caption": 0.45, "subtitle": 0.35, "ticker": 0.02, "logo": 0.06, "background": 0.12},
}


@dataclass(frozen=True)
class VTCShift:
    """How the variety-show target differs from the news source. Numeric knobs are amounts (0:
    none) that ``shift`` multiplies; ``shift=0`` draws the target like the source.

    Attributes:
        shift: global multiplier of the numeric knobs below.
        layout_shift: 0: news layout conventions; 1: variety-show conventions (every layout
            parameter of every kind interpolates linearly).
        language_shift: fraction of target content words drawn from the show-only vocabulary
            (casual speech, decorative captions) instead of the news vocabulary of the kind.
        style_shift: 0: news text styling; 1: show styling (punctuation, symbols, case).
        prior_shift: 0: news class prior (Caption 0.30, Subtitle 0.50, Others 0.20); 1: show
            prior (0.45, 0.35, 0.20, with more background text than tickers among Others).
        noise: target word-feature and layout jitter noise is ``1 + noise`` times the source's.
        word_similarity: how close a word lies to its kind's semantic centre (not scaled by
            ``shift``): the cosine between two words of a kind is about its square, so a
            show-only word partly shares what a source model learned from the kind's news words.
    """

    shift: float = 1.0
    layout_shift: float = 1.0
    language_shift: float = 0.9
    style_shift: float = 1.0
    prior_shift: float = 1.0
    noise: float = 0.3
    word_similarity: float = 0.3

    def scaled(self) -> VTCShift:
        """The knobs after applying ``shift`` (and with ``shift`` reset to 1)."""
        numeric = {
            f.name: min(getattr(self, f.name) * self.shift, 1.0)
            if f.name != "noise"
            else self.noise * self.shift
            for f in fields(self)
            if f.name not in ("shift", "word_similarity")
        }
        return replace(self, shift=1.0, **numeric)


def make_shift(**shift_kw: object) -> VTCShift:
    names = {f.name for f in fields(VTCShift)}
    unknown = sorted(set(shift_kw) - names)
    if unknown:
        raise TypeError(f"unknown vtc shift knob(s) {unknown}; known: {sorted(names)}")
    return VTCShift(**shift_kw)  # type: ignore[arg-type]


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

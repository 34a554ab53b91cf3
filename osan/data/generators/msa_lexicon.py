"""The generated sentiment benchmark's lexicon: sentiment concepts with their strengths and
synonyms (seen in both domains, the source only or the target only), negators, intensifiers,
function words, disfluencies and topic words, and :func:`text_polarity`, the generator's
word-level polarity accounting of a token sequence (``osan/data/generators/msa.py``)."""

from __future__ import annotations

# --- lexicon ---------------------------------------------------------------------------------
# Sentiment concepts: (strength, synonyms). Usage tag per word: "b" seen in both domains,
# "s" source only, "t" target only (casual spoken words of MOSI-like movie reviews).
SENTIMENT_CONCEPTS: tuple[tuple[float, tuple[tuple[str, str], ...]], ...] = (
    (0.8, (("decent", "b"), ("solid", "s"), ("fine", "s"), ("okay", "t"), ("alright", "t"))),
    (
        1.5,
        (
            ("good", "b"),
            ("nice", "b"),
            ("enjoyable", "s"),
            ("pleasant", "s"),
            ("cool", "t"),
            ("fun", "t"),
        ),
    ),
    (
        2.2,
        (
            ("great", "b"),
            ("impressive", "s"),
            ("excellent", "s"),
            ("wonderful", "s"),
            ("awesome", "t"),
            ("sweet", "t"),
        ),
    ),
    (2.6, (("love", "b"), ("adore", "s"), ("cherish", "s"), ("loved", "t"), ("dig", "t"))),
    (
        2.9,
        (
            ("amazing", "b"),
            ("perfect", "b"),
            ("fantastic", "s"),
            ("brilliant", "s"),
            ("outstanding", "s"),
            ("incredible", "t"),
            ("hilarious", "t"),
        ),
    ),
    (
        -0.8,
        (("predictable", "b"), ("mediocre", "s"), ("bland", "s"), ("meh", "t"), ("slow", "t")),
    ),
    (
        -1.5,
        (
            ("bad", "b"),
            ("boring", "b"),
            ("weak", "s"),
            ("dull", "s"),
            ("lame", "t"),
            ("cheesy", "t"),
        ),
    ),
    (
        -2.2,
        (
            ("terrible", "b"),
            ("poor", "s"),
            ("disappointing", "s"),
            ("annoying", "s"),
            ("stupid", "t"),
            ("dumb", "t"),
        ),
    ),
    (-2.6, (("hate", "b"), ("despise", "s"), ("detest", "s"), ("hated", "t"), ("loathe", "t"))),
    (
        -2.9,
        (
            ("awful", "b"),
            ("worst", "b"),
            ("horrible", "s"),
            ("pathetic", "s"),
            ("garbage", "t"),
            ("crappy", "t"),
        ),
    ),
)
# Each target-only sentiment word and the source word it is related to (same concept).
NOVEL_RELATIVES: dict[str, str] = {
    "okay": "fine", "alright": "solid", "cool": "nice", "fun": "enjoyable",
    "awesome": "excellent", "sweet": "wonderful", "loved": "adore", "dig": "cherish",
    "incredible": "fantastic", "hilarious": "brilliant", "meh": "mediocre", "slow": "bland",
    "lame": "weak", "cheesy": "dull", "stupid": "annoying", "dumb": "poor",
    "hated": "despise", "loathe": "detest", "garbage": "pathetic", "crappy": "horrible",
}  # fmt: skip
NEGATORS: tuple[str, ...] = ("not", "never", "hardly")
INTENSIFIERS: tuple[tuple[str, str], ...] = (
    ("very", "b"),
    ("really", "b"),
    ("extremely", "s"),
    ("highly", "s"),
    ("so", "t"),
    ("super", "t"),
    ("totally", "t"),
)
INTENSIFIER_GAIN = 1.5
FUNCTION_WORDS: tuple[str, ...] = (
    "i", "the", "a", "it", "was", "is", "and", "but", "this", "that", "to", "of", "you", "my",
    "just", "think", "about", "have", "with", "for", "what", "they", "he", "she", "we", "be",
    "in", "on", "there", "one", "all", "some", "at", "when", "who", "would", "can", "if", "me",
)  # fmt: skip
DISFLUENCIES: tuple[str, ...] = ("um", "uh", "like", "yeah", "well", "basically")
# Topic groups: (name, words, usage) -- MOSEI spans many YouTube topics, MOSI is movie reviews.
TOPIC_GROUPS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("products", ("phone", "product", "price", "battery", "camera", "screen", "brand"), "s"),
    ("politics", ("policy", "government", "election", "president", "law", "vote", "tax"), "s"),
    ("education", ("course", "class", "students", "teacher", "school", "lecture", "exam"), "s"),
    ("lifestyle", ("food", "restaurant", "music", "song", "album", "book", "author"), "s"),
    ("business", ("company", "service", "market", "economy", "job", "customers", "team"), "s"),
    ("movies", ("movie", "film", "story", "actor", "character", "plot", "scene", "ending"), "b"),
    ("cinema", ("sequel", "trailer", "cast", "comedy", "horror", "villain", "director"), "t"),
    ("screen", ("screenplay", "soundtrack", "theater", "popcorn", "actress", "remake"), "t"),
)
SPECIALS: tuple[str, ...] = ("[CLS]", "[SEP]")
# Word vectors: a sentiment concept's centre has this much of a shared polarity axis, and a word
# this much of its concept's centre (synonyms have cosine ~ SYNONYM_CLOSENESS^2).
POLARITY_SHARE = 0.0
SYNONYM_CLOSENESS = 0.7

POLARITY: dict[str, float] = {w: s for s, words in SENTIMENT_CONCEPTS for w, _ in words}
_INTENSIFIER_WORDS = frozenset(w for w, _ in INTENSIFIERS)


def text_polarity(tokens: list[str] | str) -> float:
    """The generator's word-level polarity accounting of a token sequence.

    Each sentiment word adds its strength; an intensifier before it multiplies it by 1.5 and a
    negator before it (possibly with an intensifier in between) flips its sign.
    ``text_polarity("not good") == -text_polarity("good")``.
    """
    if isinstance(tokens, str):
        tokens = tokens.split()
    score, negated, gain = 0.0, False, 1.0
    for tok in tokens:
        if tok in NEGATORS:
            negated = True
        elif tok in _INTENSIFIER_WORDS:
            gain = INTENSIFIER_GAIN
        elif tok in POLARITY:
            score += POLARITY[tok] * gain * (-1.0 if negated else 1.0)
            negated, gain = False, 1.0
    return score

"""The shift knobs of the generated video text benchmark: how the variety-show target differs
from the news source (``osan/data/generators/vtc.py``)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from osan.data.generators import common


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
    common.check_knobs(VTCShift, "vtc", shift_kw)
    return VTCShift(**shift_kw)  # type: ignore[arg-type]

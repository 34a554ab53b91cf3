"""The shift knobs of the generated sentiment benchmark: how the CMU-MOSI-like target differs
from the CMU-MOSEI-like source (``osan/data/generators/msa.py``)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Literal

from osan.data.generators import common


@dataclass(frozen=True)
class MSAShift:
    """How the target differs from the source. Every numeric knob is an amount: 0 means no shift,
    and ``shift`` multiplies them all (``shift=0``: the target is drawn like the source, except
    for the feature dims when ``dims="mmsa"``).

    Attributes:
        shift: global multiplier of every numeric knob below.
        novel_words: fraction of target sentiment-word (and intensifier) occurrences drawn from
            target-only synonyms, never seen in the source; their embeddings lie near their
            source synonyms'.
        topic_shift: 0: the source's topic mix (80% source-only topics such as products,
            politics, education; 20% movies); 1: MOSI-like movie reviews (30% the shared movie
            words, 70% target-only cinema words).
        rotation: largest angle (radians) of the rotation that mixes the latent vision and audio
            channels before the target's sensor view (a different face tracker / acoustic front
            end). It matters with ``dims="same"``; with ``dims="mmsa"`` the target's view is an
            unrelated random matrix anyway.
        affine: size of the target's per-channel feature scale (log-sd ``0.5 * affine``) and
            offset (``0.5 * affine`` channel sds) changes; per-domain z-scoring undoes these.
        noise: target sensor and word-feature noise is ``1 + noise`` times the source's.
        label_shift: 0: target sentiment distributed like the source (mean 0.15, sd 1.1, 3
            annotators); 1: MOSI-like (two modes, mean 0.07, sd 1.5, 5 annotators).
        length_shift: 0: target utterances as long as the source's; 1: MOSI-like, about 40%
            shorter.
        style_shift: 0: same speaking style; 1: the target negates twice as many sentiment
            words (0.2 vs 0.1), has more disfluencies (0.1 vs 0.03 of the words) and 1.3x more
            expressive faces.
        novel_similarity: cosine between a target-only word's embedding and its source
            relative's (not scaled by ``shift``; 1: same vector, 0: unrelated).
        dims: ``"mmsa"``: audio/vision dims 74/35 (source) and 5/20 (target), the target a
            different random linear view of the same latent channels; ``"same"``: 74/35 for both.
    """

    shift: float = 1.0
    novel_words: float = 0.7
    topic_shift: float = 1.0
    rotation: float = 2.5
    affine: float = 2.0
    noise: float = 0.5
    label_shift: float = 1.0
    length_shift: float = 1.0
    style_shift: float = 1.0
    novel_similarity: float = 0.4
    dims: Literal["mmsa", "same"] = "same"

    def scaled(self) -> MSAShift:
        """The knobs after applying ``shift`` (and with ``shift`` reset to 1)."""
        numeric = {
            f.name: getattr(self, f.name) * self.shift
            for f in fields(self)
            if f.name not in ("shift", "dims", "novel_similarity")
        }
        for name in ("novel_words", "topic_shift", "label_shift", "length_shift", "style_shift"):
            numeric[name] = min(numeric[name], 1.0)
        return replace(self, shift=1.0, **numeric)


def make_shift(**shift_kw: object) -> MSAShift:
    common.check_knobs(MSAShift, "msa", shift_kw)
    if shift_kw.get("dims", "same") not in ("mmsa", "same"):
        raise ValueError(f"dims must be 'mmsa' or 'same', got {shift_kw['dims']!r}")
    return MSAShift(**shift_kw)  # type: ignore[arg-type]

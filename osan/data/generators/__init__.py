"""Built-in generated benchmarks with controlled domain shift.

``generate(name, seed=..., size=..., **shift_kw) -> (source, target)``; both domains carry labels
on every split (hide the target's when training: ``split.without_labels()``).

- ``"msa"``: multimodal sentiment analysis, a CMU-MOSEI-like source and a CMU-MOSI-like target
  (:mod:`osan.data.generators.msa`).
- ``"vtc"``: video text classification, a news source and a variety-show target
  (:mod:`osan.data.generators.vtc`).
"""

from __future__ import annotations

from collections.abc import Callable

from osan.data.domain import Domain
from osan.data.generators.common import SizeSpec
from osan.data.generators.msa import MSAShift, generate_msa, text_polarity
from osan.data.generators.msa_zoo import BUILTIN, KINDS, SHIFT_KINDS, generate_msa_shift
from osan.data.generators.vtc import VTCShift, generate_vtc

GENERATORS: dict[str, Callable[..., tuple[Domain, Domain]]] = {
    "msa": generate_msa,
    "vtc": generate_vtc,
}


def generate(
    name: str,
    *,
    seed: int = 0,
    size: SizeSpec = "small",
    kind: str = BUILTIN,
    **shift_kw: object,
) -> tuple[Domain, Domain]:
    """Generate the ``(source, target)`` domains of benchmark ``name`` (``"msa"`` or ``"vtc"``).

    Args:
        name: which benchmark.
        seed: everything (vocabulary, embeddings, sensor views, samples) follows from it; the same
            seed gives identical arrays.
        size: ``"tiny"`` (64 per split, for tests), ``"small"`` (default; ~1500/300/500 source
            and 1000/200/500 target), ``"large"`` (5x small) or a float multiplier of small.
        kind: ``"builtin"`` (the benchmark's own shift, set by ``shift_kw``) or, for msa, a kind
            of the shift zoo (:data:`SHIFT_KINDS`: ``"sensor"``, ``"label"``, ...), which
            isolates one cause of shift (:mod:`osan.data.generators.msa_zoo`).
        **shift_kw: the benchmark's shift knobs (:class:`MSAShift` or :class:`VTCShift` fields).
    """
    if name not in GENERATORS:
        raise ValueError(f"unknown generated benchmark {name!r}; choose from {sorted(GENERATORS)}")
    if kind != BUILTIN:
        if name != "msa" or kind not in SHIFT_KINDS:
            raise ValueError(f"unknown {name} shift kind {kind!r}; msa has {list(KINDS)}")
        if shift_kw:
            raise ValueError(f"shift kind {kind!r} takes no shift knobs, got {sorted(shift_kw)}")
        return generate_msa_shift(kind, seed=seed, size=size)
    return GENERATORS[name](seed=seed, size=size, **shift_kw)


__all__ = [
    "GENERATORS",
    "KINDS",
    "MSAShift",
    "SHIFT_KINDS",
    "VTCShift",
    "generate",
    "text_polarity",
]

"""Source–target pairing for TAL: right partners, random ties, deterministic, no target labels."""

from __future__ import annotations

import inspect

import pytest
import torch

from osan.alignment.pairing import PAIRING_STRATEGIES, pair_indices


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _emb(b: int, e: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, e, generator=_gen(seed))


def test_signature_has_no_target_labels() -> None:
    params = inspect.signature(pair_indices).parameters
    assert set(params) == {
        "strategy",
        "source_emb",
        "target_emb",
        "source_labels",
        "target_pred",
        "task",
        "generator",
    }
    assert not any("label" in p and "target" in p for p in params)
    assert all(
        p.kind is inspect.Parameter.KEYWORD_ONLY for n, p in params.items() if n != "strategy"
    )


@pytest.mark.parametrize("strategy", PAIRING_STRATEGIES)
def test_shape_range_and_determinism(strategy: str) -> None:
    src, tgt = _emb(9, seed=1), _emb(5, seed=2)
    labels, pred = torch.randn(9), torch.randn(5)
    kw = dict(source_emb=src, target_emb=tgt, source_labels=labels, target_pred=pred)
    a = pair_indices(strategy, **kw, generator=_gen(3))
    b = pair_indices(strategy, **kw, generator=_gen(3))
    assert a.shape == (5,) and a.dtype == torch.long
    assert int(a.min()) >= 0 and int(a.max()) < 9
    assert torch.equal(a, b)


def test_random_depends_on_generator() -> None:
    src, tgt = _emb(50), _emb(40)
    a = pair_indices("random", source_emb=src, target_emb=tgt, generator=_gen(0))
    b = pair_indices("random", source_emb=src, target_emb=tgt, generator=_gen(1))
    assert not torch.equal(a, b)


def test_nearest_recovers_a_permutation_by_cosine() -> None:
    src = _emb(12)
    perm = torch.randperm(12, generator=_gen(5))
    tgt = 3.0 * src[perm] + 1e-3 * _emb(12, seed=7)  # scale does not matter for cosine
    got = pair_indices("nearest", source_emb=src, target_emb=tgt, generator=_gen())
    assert torch.equal(got, perm)


def test_nearest_breaks_ties_at_random() -> None:
    src = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])  # rows 0 and 1: same direction
    tgt = torch.tensor([[1.0, 0.1]] * 64)
    got = pair_indices("nearest", source_emb=src, target_emb=tgt, generator=_gen())
    assert set(got.tolist()) == {0, 1}


def test_pseudo_label_regression_picks_nearest_label_with_random_ties() -> None:
    labels = torch.tensor([-2.0, 0.0, 0.0, 1.5, 3.0])
    pred = torch.tensor([-1.9, 1.4, 2.6] + [0.1] * 64)
    src, tgt = _emb(5), _emb(len(pred))
    got = pair_indices(
        "pseudo_label",
        source_emb=src,
        target_emb=tgt,
        source_labels=labels,
        target_pred=pred[:, None],  # (Bt, 1) is accepted
        task="regression",
        generator=_gen(),
    )
    assert got[:3].tolist() == [0, 3, 4]
    assert set(got[3:].tolist()) == {1, 2}  # the tie between the two 0.0 labels is random


def test_pseudo_label_classification_random_member_of_predicted_class() -> None:
    labels = torch.tensor([0, 1, 1, 1, 2, 0])
    src = _emb(6)
    pred = torch.tensor([1] * 60 + [0] * 60)
    got = pair_indices(
        "pseudo_label",
        source_emb=src,
        target_emb=_emb(120, seed=4),
        source_labels=labels,
        target_pred=pred,
        task="classification",
        generator=_gen(),
    )
    assert set(got[:60].tolist()) == {1, 2, 3}
    assert set(got[60:].tolist()) == {0, 5}
    scores = torch.nn.functional.one_hot(pred, 3).float()  # (Bt, C) scores: argmax
    again = pair_indices(
        "pseudo_label",
        source_emb=src,
        target_emb=_emb(120, seed=4),
        source_labels=labels,
        target_pred=scores,
        task="classification",
        generator=_gen(),
    )
    assert torch.equal(got, again)


def test_pseudo_label_classification_falls_back_to_nearest_embedding() -> None:
    labels = torch.tensor([0, 0, 1])
    src = _emb(3)
    tgt = torch.stack([src[2], src[0] + 1e-3, src[1]])
    got = pair_indices(
        "pseudo_label",
        source_emb=src,
        target_emb=tgt,
        source_labels=labels,
        target_pred=torch.tensor([5, 7, 1]),  # classes 5 and 7 are absent from the source batch
        task="classification",
        generator=_gen(),
    )
    assert got[0] == 2 and got[1] == 0
    assert got[2] == 2  # class 1 present: its only member


def test_pairs_follow_predictions_not_the_truth() -> None:
    """Behaviour: only the predictions drive the pairing; a wrong prediction pairs wrongly."""
    labels = torch.tensor([0, 1])
    src = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    tgt = src.clone()  # truly class 0 then class 1, and nearest to the matching source row
    wrong_pred = torch.tensor([1, 0])
    got = pair_indices(
        "pseudo_label",
        source_emb=src,
        target_emb=tgt,
        source_labels=labels,
        target_pred=wrong_pred,
        task="classification",
        generator=_gen(),
    )
    assert got.tolist() == [1, 0]


def test_errors() -> None:
    src, tgt = _emb(4), _emb(3)
    with pytest.raises(ValueError, match="needs source_labels"):
        pair_indices("pseudo_label", source_emb=src, target_emb=tgt, generator=_gen())
    with pytest.raises(ValueError, match="unknown pairing"):
        pair_indices("oracle", source_emb=src, target_emb=tgt)
    with pytest.raises(ValueError, match="differ in size"):
        pair_indices("nearest", source_emb=src, target_emb=_emb(3, e=5))

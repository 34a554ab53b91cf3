"""Behaviour of the generated benchmarks (``osan.data.generators``)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from osan.data.domain import Domain, Split
from osan.data.generators import generate, text_polarity
from osan.data.generators.common import split_sizes
from osan.data.generators.msa import NEGATORS, POLARITY, SENTIMENT_CONCEPTS
from osan.types import SPLITS


@pytest.fixture(scope="module")
def msa_tiny() -> tuple[Domain, Domain]:
    return generate("msa", seed=0, size="tiny", dims="mmsa")


@pytest.fixture(scope="module")
def vtc_tiny() -> tuple[Domain, Domain]:
    return generate("vtc", seed=0, size="tiny")


@pytest.fixture(scope="module")
def msa_half() -> tuple[Domain, Domain]:
    """Half of ``small`` with equal dims, for statistics and learnability."""
    return generate("msa", seed=0, size=0.5, dims="same")


@pytest.fixture(scope="module")
def vtc_half() -> tuple[Domain, Domain]:
    return generate("vtc", seed=0, size=0.5)


def pooled(split: Split) -> np.ndarray:
    """Masked mean over true lengths, modalities concatenated in sorted order.

    Shape:
        returns: (N, sum_m I_m)
    """
    parts = []
    for m in sorted(split.features):
        x, n = split.features[m], split.lengths[m]
        mask = np.arange(x.shape[1])[None, :] < n[:, None]  # (N, L)
        parts.append((x * mask[:, :, None]).sum(axis=1) / n[:, None])
    return np.concatenate(parts, axis=1).astype(np.float64)


def ridge_corr(train: Split, test: Split, alpha: float = 1000.0) -> float:
    """Pearson Corr on ``test`` of a ridge fitted on z-scored pooled ``train`` features."""
    xtr, xte = pooled(train), pooled(test)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-8
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    rhs = xtr.T @ (train.labels - train.labels.mean())
    w = np.linalg.solve(xtr.T @ xtr + alpha * np.eye(xtr.shape[1]), rhs)
    return float(np.corrcoef(xte @ w, test.labels)[0, 1])


def logreg_f1(train: Split, test: Split) -> float:
    """Macro-F1 (%) on ``test`` of a logistic regression on z-scored pooled ``train`` features."""
    xtr, xte = pooled(train), pooled(test)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-8
    model = LogisticRegression(C=0.1, max_iter=2000).fit((xtr - mu) / sd, train.labels)
    return 100 * float(f1_score(test.labels, model.predict((xte - mu) / sd), average="macro"))


# --- layout, shapes, ranges ----------------------------------------------------------------------


def check_domain(domain: Domain, dims: dict[str, int]) -> None:
    domain.validate()
    assert tuple(domain.splits) == SPLITS
    assert domain.dims() == dims
    for name, sp in domain.splits.items():
        n = len(sp)
        assert sp.ids[0] == f"{domain.name}_{name}_00000"
        assert sp.ids[-1] == f"{domain.name}_{name}_{n - 1:05d}"
        assert len(set(sp.ids)) == n
        assert sp.raw_text is not None and all(isinstance(t, str) and t for t in sp.raw_text)
        for m, x in sp.features.items():
            assert x.dtype == np.float32
            lens = sp.lengths[m]
            assert lens.dtype == np.int64 and lens.min() >= 1 and lens.max() <= x.shape[1]
            pad = np.arange(x.shape[1])[None, :] >= lens[:, None]  # (N, L) padding positions
            assert not np.any(x[pad]), f"{m}: non-zero padding"
            assert np.all(np.abs(x[~pad]).sum(axis=-1) > 0), f"{m}: all-zero real step"


def test_msa_layout_and_mmsa_dims(msa_tiny: tuple[Domain, Domain]) -> None:
    source, target = msa_tiny
    check_domain(source, {"text": 768, "vision": 35, "audio": 74})
    check_domain(target, {"text": 768, "vision": 20, "audio": 5})
    for domain, k in ((source, 3), (target, 5)):
        assert domain.task == "regression" and domain.classes is None
        assert domain.meta["annotators"] == k
        for sp in domain.splits.values():
            assert len(sp) == 64 and sp.labels.dtype == np.float32
            assert sp.labels.min() >= -3 and sp.labels.max() <= 3
            # Averages of k integer votes lie on the 1/k grid.
            np.testing.assert_allclose(sp.labels * k, np.rint(sp.labels * k), atol=1e-4)
            assert sp.features["text"].shape[1] == 50
            # Text features are one row per token plus [CLS] and [SEP].
            words = np.array([len(t.split()) for t in sp.raw_text])
            np.testing.assert_array_equal(sp.lengths["text"], words + 2)


def test_msa_same_dims() -> None:
    source, target = generate("msa", seed=0, size="tiny", dims="same")
    assert source.dims() == target.dims() == {"text": 768, "vision": 35, "audio": 74}


def test_vtc_layout(vtc_tiny: tuple[Domain, Domain]) -> None:
    for domain in vtc_tiny:
        check_domain(domain, {"text": 128, "layout": 16})
        assert domain.task == "classification"
        assert domain.classes == ["Caption", "Subtitle", "Others"]
        for sp in domain.splits.values():
            assert sp.labels.dtype == np.int64
            assert set(np.unique(sp.labels)) <= {0, 1, 2}


def test_sizes() -> None:
    assert split_sizes({"train": 1500, "valid": 300, "test": 500}, "small") == {
        "train": 1500,
        "valid": 300,
        "test": 500,
    }
    assert split_sizes({"train": 1500, "valid": 300, "test": 500}, "large")["train"] == 7500
    assert split_sizes({"train": 1500, "valid": 300, "test": 500}, 0.1) == {
        "train": 150,
        "valid": 30,
        "test": 50,
    }
    source, target = generate("vtc", seed=0, size=0.02)
    assert [len(source.split(s)) for s in SPLITS] == [30, 8, 10]
    assert [len(target.split(s)) for s in SPLITS] == [20, 8, 10]
    with pytest.raises(ValueError):
        generate("msa", size="huge")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown generated benchmark"):
        generate("mosi")
    with pytest.raises(TypeError, match="unknown msa shift knob"):
        generate("msa", size="tiny", rotaton=1.0)
    with pytest.raises(TypeError, match="unknown vtc shift knob"):
        generate("vtc", size="tiny", dims="same")
    with pytest.raises(ValueError, match="dims"):
        generate("msa", size="tiny", dims="other")


# --- determinism -----------------------------------------------------------------------------


def assert_same(a: Domain, b: Domain) -> None:
    for s in SPLITS:
        x, y = a.split(s), b.split(s)
        assert x.ids == y.ids and x.raw_text == y.raw_text
        np.testing.assert_array_equal(x.labels, y.labels)
        for m in x.features:
            np.testing.assert_array_equal(x.features[m], y.features[m])
            np.testing.assert_array_equal(x.lengths[m], y.lengths[m])


@pytest.mark.parametrize("name", ["msa", "vtc"])
def test_same_seed_same_arrays_other_seed_differs(name: str) -> None:
    first = generate(name, seed=3, size="tiny")
    again = generate(name, seed=3, size="tiny")
    other = generate(name, seed=4, size="tiny")
    for a, b, c in zip(first, again, other, strict=True):
        assert_same(a, b)
        for m in a.modalities:
            x, z = a.split("train").features[m], c.split("train").features[m]
            assert x.shape != z.shape or not np.array_equal(x, z)
        assert a.split("train").raw_text != c.split("train").raw_text


@pytest.mark.parametrize(
    ("name", "knobs"), [("msa", {"rotation": 0.3, "novel_words": 0.0}), ("vtc", {"shift": 0.0})]
)
def test_source_does_not_depend_on_target_knobs(name: str, knobs: dict) -> None:
    assert_same(
        generate(name, seed=1, size="tiny")[0], generate(name, seed=1, size="tiny", **knobs)[0]
    )


# --- what the data carries ---------------------------------------------------------------------


def test_msa_label_statistics(msa_half: tuple[Domain, Domain]) -> None:
    source, target = msa_half
    ys = np.concatenate([source.split(s).labels for s in SPLITS])
    yt = np.concatenate([target.split(s).labels for s in SPLITS])
    assert abs(ys.mean() - 0.15) < 0.1 and abs(ys.std() - 1.1) < 0.1
    assert abs(yt.mean() - 0.07) < 0.15 and abs(yt.std() - 1.5) < 0.1
    assert 0.05 < np.mean(ys == 0) < 0.25 and np.mean(yt == 0) > 0.01
    # MOSEI-like utterances are longer, in every modality.
    for m in ("text", "vision", "audio"):
        assert (
            source.split("train").lengths[m].mean() > 1.3 * target.split("train").lengths[m].mean()
        )


def test_text_polarity_accounting() -> None:
    assert text_polarity("good") > 0 and text_polarity("terrible") < 0
    assert text_polarity("not good") == -text_polarity("good")
    assert text_polarity("never very bad") == -1.5 * text_polarity("bad")
    assert text_polarity("the movie was not bad but boring") == -text_polarity("bad") + (
        text_polarity("boring")
    )


def test_negation_flips_the_word_contribution(msa_half: tuple[Domain, Domain]) -> None:
    """A sentiment word agrees in sign with the label unless a negator precedes it."""
    agree = {True: [], False: []}
    for domain in msa_half:
        sp = domain.split("train")
        for text, y in zip(sp.raw_text, sp.labels, strict=True):
            if abs(y) < 1:
                continue
            tokens = text.split()
            for i, tok in enumerate(tokens):
                if tok in POLARITY:
                    negated = any(t in NEGATORS for t in tokens[max(0, i - 2) : i])
                    agree[negated].append(np.sign(POLARITY[tok]) == np.sign(y))
    assert len(agree[True]) > 50
    assert np.mean(agree[False]) > 0.75
    assert np.mean(agree[True]) < 0.25
    # And the negation-aware score follows the labels better than the negation-blind one.
    sp = msa_half[1].split("train")
    aware = np.array([text_polarity(t) for t in sp.raw_text])
    blind = np.array([sum(POLARITY.get(w, 0.0) for w in t.split()) for t in sp.raw_text])
    assert np.corrcoef(aware, sp.labels)[0, 1] > np.corrcoef(blind, sp.labels)[0, 1] + 0.05


def test_text_features_are_word_vectors(msa_tiny: tuple[Domain, Domain]) -> None:
    """Two occurrences of a word have nearly the same features; different words do not."""
    sp = msa_tiny[0].split("train")
    rows: dict[str, list[np.ndarray]] = {}
    for i, text in enumerate(sp.raw_text[:20]):
        for j, tok in enumerate(text.split()[:48]):
            rows.setdefault(tok, []).append(sp.features["text"][i, j + 1])  # +1: [CLS]

    def cos(a: np.ndarray, b: np.ndarray) -> float:
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    repeated = [w for w, r in rows.items() if len(r) > 1]
    words = list(rows)
    assert repeated
    assert min(cos(*rows[w][:2]) for w in repeated) > 0.8
    assert (
        max(abs(cos(rows[a][0], rows[b][0])) for a, b in zip(words, words[1:], strict=False)) < 0.6
    )


def test_target_uses_sentiment_words_the_source_never_does(msa_tiny: tuple[Domain, Domain]) -> None:
    source_vocab = {w for _, words in SENTIMENT_CONCEPTS for w, usage in words if usage != "t"}

    def sentiment_words(domain: Domain) -> set[str]:
        tokens = {w for sp in domain.splits.values() for t in sp.raw_text for w in t.split()}
        return tokens & set(POLARITY)

    source, target = msa_tiny
    assert sentiment_words(source) <= source_vocab
    assert len(sentiment_words(target) - source_vocab) >= 5
    _, same_words = generate("msa", seed=0, size="tiny", novel_words=0.0)
    assert sentiment_words(same_words) <= source_vocab


def test_vtc_class_priors_differ(vtc_half: tuple[Domain, Domain]) -> None:
    source, target = vtc_half
    ps = np.bincount(source.split("train").labels, minlength=3) / len(source.split("train"))
    pt = np.bincount(target.split("train").labels, minlength=3) / len(target.split("train"))
    assert ps[1] > ps[0] and pt[0] > pt[1]  # news: mostly subtitles; shows: mostly captions


# --- learnable, and shifted ---------------------------------------------------------------------


def test_msa_learnable_with_a_gap(msa_half: tuple[Domain, Domain]) -> None:
    source, target = msa_half
    s, t = source.splits, target.splits
    in_domain = ridge_corr(s["train"], s["test"])
    source_only = ridge_corr(s["train"], t["test"])
    oracle = ridge_corr(t["train"], t["test"])
    assert in_domain > 0.3
    assert oracle > 0.45
    assert oracle - source_only > 0.1


def test_vtc_learnable_with_a_gap_that_the_knobs_cause(vtc_half: tuple[Domain, Domain]) -> None:
    source, target = vtc_half
    s, t = source.splits, target.splits
    assert logreg_f1(s["train"], s["test"]) > 90
    oracle = logreg_f1(t["train"], t["test"])
    assert oracle > 80
    assert oracle - logreg_f1(s["train"], t["test"]) > 8
    # Without shift the source model transfers.
    _, same = generate("vtc", seed=0, size=0.5, shift=0.0)
    assert logreg_f1(s["train"], same.split("test")) > 90

"""The msa shift zoo (``osan.data.generators.msa_zoo``): each kind changes one cause of shift
between the built-in source and a target drawn like it."""

from __future__ import annotations

import numpy as np
import pytest

from osan.cli import main
from osan.data.domain import Domain
from osan.data.generators import KINDS, SHIFT_KINDS, generate
from osan.data.generators.msa_lexicon import INTENSIFIERS, SENTIMENT_CONCEPTS
from osan.data.generators.msa_zoo import (
    LENGTH_RATE,
    RELIABILITY_DRIFT,
    RELIABILITY_GAPS,
    RELIABILITY_MISSING,
    RELIABILITY_NOISE,
    generate_msa_shift,
    insert_gaps,
    resample,
    sensor_map,
)
from osan.types import SPLITS
from tests.data.test_generate import assert_same, check_domain

SAME_DIMS = {"text": 768, "vision": 35, "audio": 74}
USAGE = {w: u for _, words in SENTIMENT_CONCEPTS for w, u in words} | dict(INTENSIFIERS)


@pytest.fixture(scope="module")
def zoo() -> dict[str, tuple[Domain, Domain]]:
    """Every kind, the unshifted pair ("none") and the built-in pair, seed 0, tiny."""
    out = {kind: generate("msa", seed=0, size="tiny", kind=kind) for kind in SHIFT_KINDS}
    out["none"] = generate_msa_shift("none", seed=0, size="tiny")
    out["builtin"] = generate("msa", seed=0, size="tiny")
    return out


def usage_counts(domain: Domain) -> dict[str, int]:
    """How many sentiment-word / intensifier occurrences of each usage ("b", "s", "t")."""
    counts = {"b": 0, "s": 0, "t": 0}
    for s in SPLITS:
        for text in domain.split(s).raw_text or []:
            for w in text.split():
                if w in USAGE:
                    counts[USAGE[w]] += 1
    return counts


def valid(domain: Domain, split: str, m: str) -> np.ndarray:
    sp = domain.split(split)
    return np.arange(sp.features[m].shape[1])[None, :] < sp.lengths[m][:, None]  # (N, L)


def test_kinds_are_listed_with_a_description_and_a_cause() -> None:
    assert KINDS[0] == "builtin"
    assert set(KINDS[1:]) == set(SHIFT_KINDS)
    assert {"sensor", "reliability", "vocabulary", "label", "dims", "length", "mixed"} <= set(
        SHIFT_KINDS
    )
    for kind in SHIFT_KINDS.values():
        assert kind.description and kind.cause and kind.effects


@pytest.mark.parametrize("kind", sorted(SHIFT_KINDS))
def test_every_kind_has_valid_domains_and_the_builtin_source(kind, zoo) -> None:
    source, target = zoo[kind]
    check_domain(source, SAME_DIMS)
    assert_same(source, zoo["builtin"][0])  # the source is the built-in one, whatever the kind
    target.validate()
    dims = {"text": 768, "vision": 20, "audio": 5} if kind == "dims" else SAME_DIMS
    assert target.dims() == dims
    assert target.meta["shift_kind"] == kind
    for s in SPLITS:
        sp = target.split(s)
        assert len(sp) == 64 and sp.labels.min() >= -3 and sp.labels.max() <= 3
        for m, x in sp.features.items():
            assert np.isfinite(x).all() and x.dtype == np.float32
            assert not np.any(x[~valid(target, s, m)]), f"{kind} {m}: non-zero padding"


def test_unshifted_target_is_drawn_like_the_source(zoo) -> None:
    source, target = zoo["none"]
    check_domain(target, SAME_DIMS)
    assert usage_counts(target)["t"] == 0 and usage_counts(source)["t"] == 0


def test_sensor_is_an_affine_map_of_the_unshifted_features(zoo) -> None:
    base, shifted = zoo["none"][1], zoo["sensor"][1]
    for s in SPLITS:
        a, b = base.split(s), shifted.split(s)
        np.testing.assert_array_equal(a.labels, b.labels)
        assert a.raw_text == b.raw_text
        for m in ("text", "vision", "audio"):
            np.testing.assert_array_equal(a.lengths[m], b.lengths[m])
            mat, off = sensor_map(0, m, a.features[m].shape[2], 1.0)
            keep = valid(base, s, m)
            expect = a.features[m][keep].astype(np.float64) @ mat + off  # (T, I)
            np.testing.assert_allclose(b.features[m][keep], expect, rtol=1e-4, atol=1e-4)
            # ... and not the identity: every modality's features move
            assert np.abs(b.features[m][keep] - a.features[m][keep]).mean() > 0.1


def test_reliability_drops_modalities_inserts_gaps_cuts_audio_and_adds_noise(zoo) -> None:
    base, shifted = zoo["none"][1], zoo["reliability"][1]
    missing = {m: [] for m in RELIABILITY_MISSING}
    for s in SPLITS:
        a, b = base.split(s), shifted.split(s)
        np.testing.assert_array_equal(a.labels, b.labels)
        assert (b.lengths["audio"] <= a.lengths["audio"]).all()
        assert (b.lengths["audio"] < a.lengths["audio"]).mean() > 0.5
        for m in missing:
            gone = (b.lengths[m] == 1) & ~np.abs(b.features[m][:, 0]).any(axis=-1)  # (N,)
            missing[m].append(gone)
    for m, share in RELIABILITY_MISSING.items():
        assert abs(np.concatenate(missing[m]).mean() - share) < 0.1, m
    a, b = base.split("train"), shifted.split("train")
    gone = {m: v[0] for m, v in missing.items()}  # train split
    for m, share in RELIABILITY_GAPS.items():
        here = ~gone.get(m, np.zeros(len(a), bool))
        gaps = (b.lengths[m] - a.lengths[m])[here]
        assert (gaps >= 0).all() and gaps.sum() > share / 2 * a.lengths[m][here].sum()
    for m in ("text", "vision", "audio"):
        noise = []
        for i in np.flatnonzero(~gone.get(m, np.zeros(len(a), bool))):
            real = np.abs(b.features[m][i, : b.lengths[m][i]]).any(axis=-1)  # (L',) not a gap
            n = min(int(a.lengths[m][i]), int(b.lengths[m][i]))
            if m != "audio":  # every real step kept, in order, between the gaps
                assert real.sum() == a.lengths[m][i] and n == a.lengths[m][i]
            kept = b.features[m][i, : b.lengths[m][i]][real][:n]  # (n, I)
            noise.append(kept - a.features[m][i, :n])
        want = np.hypot(RELIABILITY_NOISE[m], RELIABILITY_DRIFT[m])
        assert abs(np.concatenate(noise).std() / want - 1) < 0.15, m


def test_the_zoo_target_has_the_source_split_sizes() -> None:
    source, target = generate("msa", seed=0, size=0.02, kind="label")
    assert [len(target.split(s)) for s in SPLITS] == [len(source.split(s)) for s in SPLITS]
    assert [len(source.split(s)) for s in SPLITS] == [30, 8, 10]


def test_insert_gaps_keeps_the_real_steps_in_order() -> None:
    rng = np.random.default_rng(0)
    x = np.zeros((3, 12, 2), dtype=np.float32)
    lengths = np.array([5, 8, 12])
    for i, n in enumerate(lengths):
        x[i, :n] = np.arange(1, n + 1)[:, None]
    y, new = insert_gaps(x, lengths, 1.0, rng)
    assert (new >= lengths).all() and new[2] == 12 and (new <= 12).all()
    for i in range(3):
        steps = y[i, : new[i], 0]
        np.testing.assert_array_equal(steps[steps != 0], np.arange(1, lengths[i] + 1))
        assert not y[i, new[i] :].any()


def test_vocabulary_uses_target_only_words_beside_shared_ones(zoo) -> None:
    source, target = zoo["vocabulary"]
    src, tgt = usage_counts(source), usage_counts(target)
    assert src["t"] == 0 and src["s"] > 0
    assert tgt["s"] == 0 and tgt["b"] > 0
    assert tgt["t"] > 3 * tgt["b"]  # most sentiment words are the target's own
    assert usage_counts(zoo["none"][1])["t"] == 0


def test_label_shifts_the_sentiment_distribution_not_the_rest(zoo) -> None:
    base, shifted = zoo["none"][1], zoo["label"][1]
    ya = np.concatenate([base.split(s).labels for s in SPLITS])
    yb = np.concatenate([shifted.split(s).labels for s in SPLITS])
    assert yb.mean() < ya.mean() - 0.6
    assert yb.std() < 0.85 * ya.std()
    assert base.meta["annotators"] == shifted.meta["annotators"]
    assert base.dims() == shifted.dims()


def test_dims_is_another_view_of_the_same_draws(zoo) -> None:
    base, shifted = zoo["none"][1], zoo["dims"][1]
    for s in SPLITS:
        a, b = base.split(s), shifted.split(s)
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(a.features["text"], b.features["text"])
        for m in ("vision", "audio"):
            np.testing.assert_array_equal(a.lengths[m], b.lengths[m])


def test_resample_interpolates_at_the_new_rate() -> None:
    x = np.zeros((2, 10, 1), dtype=np.float32)
    x[0, :8, 0] = np.arange(8)  # a ramp of 8 frames
    x[1, :3, 0] = [5, 7, 9]
    y, n = resample(x, np.array([8, 3]), 0.5)
    np.testing.assert_array_equal(n, [4, 2])
    np.testing.assert_allclose(y[0, :4, 0], [0, 2, 4, 6])
    np.testing.assert_allclose(y[1, :2, 0], [5, 9])
    assert not y[0, 4:].any() and not y[1, 2:].any()
    y, n = resample(x, np.array([8, 3]), 1.5)
    np.testing.assert_allclose(y[0, : n[0], 0], np.minimum(np.arange(n[0]) / 1.5, 7), atol=1e-6)


def test_length_shortens_utterances_and_lowers_the_frame_rate(zoo) -> None:
    (source, _), target = zoo["length"], zoo["length"][1]

    def frames_per_word(domain: Domain) -> float:
        sp = domain.split("train")
        return float(np.mean(sp.lengths["vision"] / (sp.lengths["text"] - 2)))

    assert target.split("train").lengths["text"].mean() < 0.7 * (
        source.split("train").lengths["text"].mean()
    )
    ratio = frames_per_word(target) / frames_per_word(source)
    assert abs(ratio - LENGTH_RATE) < 0.12


def test_mixed_combines_milder_causes(zoo) -> None:
    base, mixed, label = zoo["none"][1], zoo["mixed"][1], zoo["label"][1]
    y = {k: np.concatenate([d.split(s).labels for s in SPLITS]) for k, d in
         (("base", base), ("mixed", mixed), ("label", label))}  # fmt: skip
    assert y["label"].mean() < y["mixed"].mean() - 0.2 < y["base"].mean() - 0.4
    assert 0 < usage_counts(mixed)["t"] < usage_counts(zoo["vocabulary"][1])["t"]
    assert mixed.split("train").lengths["text"].mean() < base.split("train").lengths["text"].mean()
    zero = ~np.abs(mixed.split("train").features["vision"]).any(axis=-1)
    assert (zero & valid(mixed, "train", "vision")).any()  # gaps from reliability


@pytest.mark.parametrize("kind", ["sensor", "reliability", "length"])
def test_same_seed_same_arrays_other_seed_differs(kind) -> None:
    first = generate("msa", seed=3, size="tiny", kind=kind)
    again = generate("msa", seed=3, size="tiny", kind=kind)
    other = generate("msa", seed=4, size="tiny", kind=kind)
    assert_same(first[1], again[1])
    assert first[1].split("train").raw_text != other[1].split("train").raw_text
    x, z = first[1].split("train").features["vision"], other[1].split("train").features["vision"]
    assert not np.array_equal(x, z)


def test_bad_kinds() -> None:
    with pytest.raises(ValueError, match="unknown msa shift kind 'bogus'"):
        generate("msa", size="tiny", kind="bogus")
    with pytest.raises(ValueError, match="unknown vtc shift kind"):
        generate("vtc", size="tiny", kind="label")
    with pytest.raises(ValueError, match="takes no shift knobs"):
        generate("msa", size="tiny", kind="label", rotation=1.0)


# --- the built-in shift is unchanged -----------------------------------------------------------

#: The built-in ``osan data generate msa --size tiny`` (seed 0) as generated before the zoo:
#: exact discrete contents and feature sums (float sums to ~1e-6: BLAS may differ in the last
#: bits across machines). The files were also checked byte for byte (sha256) before and after.
BUILTIN_TINY = {
    "source": {"labels": 32.0, "text_len": 5331, "vision_len": 6749, "audio_len": 6576,
               "text": 1708920.448468, "vision": 154941.939501, "audio": 308567.790046,
               "first_text": "there basically all they film president camera lecture in "
               "customers music the me to it of to the song some for one service and product "
               "would there about they some me was election on scene and some but vote battery "
               "yeah think and"},
    "target": {"labels": 20.4, "text_len": 3187, "vision_len": 4013, "audio_len": 3979,
               "text": 1072455.746789, "vision": 227297.589321, "audio": 475772.980042,
               "first_text": "if think they remake like ending hated"},
}  # fmt: skip


def summary(domain: Domain) -> dict[str, object]:
    sps = [domain.split(s) for s in SPLITS]
    out: dict[str, object] = {
        "labels": float(sum(sp.labels.astype(np.float64).sum() for sp in sps)),
        "first_text": sps[0].raw_text[0],
    }
    for m in ("text", "vision", "audio"):
        out[f"{m}_len"] = int(sum(sp.lengths[m].sum() for sp in sps))
        out[m] = float(sum(np.abs(sp.features[m].astype(np.float64)).sum() for sp in sps))
    return out


def test_builtin_shift_is_unchanged() -> None:
    source, target = generate("msa", seed=0, size="tiny")
    for role, domain in (("source", source), ("target", target)):
        got, want = summary(domain), BUILTIN_TINY[role]
        for k, v in want.items():
            if isinstance(v, float):
                assert got[k] == pytest.approx(v, rel=1e-6, abs=1e-5), (role, k)
            else:
                assert got[k] == v, (role, k)
    assert_same(target, generate("msa", seed=0, size="tiny", kind="builtin")[1])


# --- command line --------------------------------------------------------------------------------


def test_cli_generates_a_kind_and_refuses_unknown_ones(tmp_path, capsys) -> None:
    import json

    out = tmp_path / "label"
    assert main(["data", "generate", "msa", "--size", "tiny", "--shift", "label", "--out",
                 str(out)]) == 0  # fmt: skip
    meta = json.loads((out / "meta.json").read_text())
    assert meta["shift_kind"] == "label" and meta["target"]["n"]["train"] == 64
    capsys.readouterr()
    for bad in (["msa", "--shift", "bogus"], ["vtc", "--shift", "label"],
                ["msa", "--shift", "dims", "--dims", "mmsa"]):  # fmt: skip
        bad_out = tmp_path / "bad"
        assert _exit_code(["data", "generate", *bad, "--size", "tiny", "--out", str(bad_out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "--shift" in err, err
        assert not bad_out.exists()
    help_text = _help(capsys)
    for kind, spec in SHIFT_KINDS.items():
        assert f"{kind:12s} {spec.description}" in help_text


def _exit_code(argv: list[str]) -> int:
    """``main``'s return value, or the code of the ``SystemExit`` it raised (argparse errors)."""
    try:
        return main(argv)
    except SystemExit as e:
        return int(e.code or 0)


def _help(capsys) -> str:
    with pytest.raises(SystemExit):
        main(["data", "generate", "--help"])
    return capsys.readouterr().out

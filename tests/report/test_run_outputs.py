"""What a finished run saves for the report, and the opt-in learning-curve diagnostic.

- ``fit`` writes ``features.npz`` (target test features/predictions/labels, a fixed-seed source
  sample) and ``predictions.csv`` whose predictions are the ones ``metrics.json`` scored;
- ``curve_every=k`` logs target test metrics every k steps, tagged as reading target labels,
  and changes nothing else: the same seed gives identical metrics and training logs.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from osan.config import ConfigError, load_config
from osan.eval.evaluate import load_run_artifacts, source_sample_rows
from osan.eval.metrics import regression_metrics
from osan.train.trainer import fit
from tests.helpers import TINY, toy_domains


def cfg(method="osan", task="regression", extra=()):
    return load_config(overrides=[*TINY, *extra], method=method, task=task, seed=0)


def test_run_saves_features_and_predictions_that_match_its_metrics(tmp_path):
    src, tgt = toy_domains()
    metrics = fit(cfg(), src, tgt, tmp_path, progress=False)
    art = load_run_artifacts(tmp_path)
    n_t, n_s = len(tgt.split("test")), len(src.split("test"))
    assert art.target_ids == tgt.split("test").ids
    assert art.target_features.shape[0] == n_t and art.target_features.ndim == 2
    assert art.source_features.shape == (n_s, art.target_features.shape[1])
    assert np.all(np.isfinite(art.target_features))
    assert art.target_text == tgt.split("test").raw_text
    np.testing.assert_array_equal(art.target_labels, tgt.split("test").labels)
    rows = list(csv.DictReader((tmp_path / "predictions.csv").open()))
    assert [r["id"] for r in rows] == art.target_ids
    pred = np.array([float(r["prediction"]) for r in rows])
    label = np.array([float(r["label"]) for r in rows])
    assert regression_metrics(pred, label)["mae"] == pytest.approx(metrics["mae"], abs=1e-5)


def test_classification_predictions_name_classes_with_probabilities(tmp_path):
    src, tgt = toy_domains(task="classification")
    metrics = fit(cfg("source-only", "classification"), src, tgt, tmp_path, progress=False)
    rows = list(csv.DictReader((tmp_path / "predictions.csv").open()))
    assert set(rows[0]) == {"id", "label", "prediction", "p_a", "p_b", "p_c"}
    for r in rows:
        probs = [float(r[f"p_{c}"]) for c in "abc"]
        assert sum(probs) == pytest.approx(1.0, abs=1e-4)
        assert r["prediction"] == "abc"[int(np.argmax(probs))]
    acc = np.mean([r["prediction"] == r["label"] for r in rows])
    assert acc == pytest.approx(metrics["accuracy"])
    art = load_run_artifacts(tmp_path)
    assert art.classes == ["a", "b", "c"] and art.target_pred.shape[1] == 3


def test_source_sample_is_fixed_and_capped():
    rows = source_sample_rows(5000)
    assert len(rows) == 1000 == len(set(rows.tolist())) and np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(rows, source_sample_rows(5000))
    np.testing.assert_array_equal(source_sample_rows(30), np.arange(30))


def _log(path):
    return [json.loads(x) for x in (path / "log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("method", ["osan", "mdmn"])
def test_curve_diagnostic_changes_nothing_and_is_labelled(tmp_path, method):
    src, tgt = toy_domains()
    plain = fit(cfg(method), src, tgt, tmp_path / "plain", progress=False)
    curved = fit(cfg(method, extra=["curve_every=2"]), src, tgt, tmp_path / "curve", progress=False)
    assert curved["target"] == plain["target"] and curved["source"] == plain["source"]
    np.testing.assert_array_equal(
        load_run_artifacts(tmp_path / "plain").target_features,
        load_run_artifacts(tmp_path / "curve").target_features,
    )

    def training(records):
        return [
            {k: v for k, v in r.items() if k != "seconds"}
            for r in records
            if r["event"] != "target_curve"
        ]

    records = _log(tmp_path / "curve")
    assert training(records) == training(_log(tmp_path / "plain"))
    curve = [r for r in records if r["event"] == "target_curve"]
    steps = [r["step"] for r in records if r["event"] == "epoch"]
    assert [r["step"] for r in curve] == list(range(2, steps[-1] + 1, 2))
    assert all(r["diagnostic"] == "reads target labels" for r in curve)
    assert all(np.isfinite(r["mae"]) and np.isfinite(r["corr"]) for r in curve)
    assert not any(r["event"] == "target_curve" for r in _log(tmp_path / "plain"))


def test_curve_every_is_a_config_key_that_keeps_the_hash():
    on = load_config(overrides=["curve_every=20"])
    off = load_config()
    assert on.curve_every == 20 and off.curve_every == 0
    assert on.hash() == off.hash()  # a diagnostic: same result, same hash
    assert "curve_every" not in off.to_dict()  # configs of runs without it are unchanged
    with pytest.raises(ConfigError, match="curve_every"):
        load_config(overrides=["curve_every=-1"])

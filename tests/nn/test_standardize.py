"""Per-domain input standardisation (encoder.input_norm=domain): statistics over valid steps
only, one set per domain, and a model that no longer sees a per-channel affine shift."""

from dataclasses import replace

import numpy as np
import torch

from osan.data.domain import Domain, SplitLoader
from osan.methods import build_method
from osan.nn.standardize import InputStandardizer, channel_moments
from osan.train.trainer import build, describe_dims
from tests.helpers import toy_domains
from tests.methods.test_baselines import cfg_for


def test_moments_read_valid_steps_only():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(20, 7, 4)).astype(np.float32)
    lengths = rng.integers(1, 8, size=20)
    for i, n in enumerate(lengths):
        x[i, n:] = 1e6  # padding that must not count
    mean, std = channel_moments(x, lengths, chunk=6)
    rows = np.concatenate([x[i, :n] for i, n in enumerate(lengths)]).astype(np.float64)
    np.testing.assert_allclose(mean, rows.mean(0), rtol=1e-9)
    np.testing.assert_allclose(std, rows.std(0), rtol=1e-9)


def test_standardizer_is_identity_until_fit_and_z_scores_after():
    x = torch.randn(5, 3, 2) * torch.tensor([4.0, 0.5]) + torch.tensor([10.0, -2.0])
    norm = InputStandardizer(2)
    torch.testing.assert_close(norm(x), x)
    norm.fit(x.numpy(), np.full(5, 3))
    z = norm(x).reshape(-1, 2)
    torch.testing.assert_close(z.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std(0, unbiased=False), torch.ones(2), atol=1e-4, rtol=0)


def _affine(domain: Domain, scale: dict, offset: dict) -> Domain:
    splits = {}
    for name, split in domain.splits.items():
        feats = {
            m: (x * scale[m] + offset[m]).astype(np.float32) for m, x in split.features.items()
        }
        splits[name] = replace(split, features=feats)
    return replace(domain, splits=splits)


def _target_predictions(src, tgt, norm, tmp_path):
    torch.manual_seed(0)
    cfg = cfg_for("source-only", f"encoder.input_norm={norm}", "encoder.dropout=0")
    run = build(cfg, src, tgt, tmp_path)
    m = run.method.eval()
    split = tgt.split("test")
    with torch.no_grad():
        return m.predict(SplitLoader(split, len(split)).batch(torch.arange(len(split))), "target")


def test_a_per_channel_affine_change_of_the_target_no_longer_changes_predictions(tmp_path):
    src, tgt = toy_domains(n=48)
    rng = np.random.default_rng(1)
    dims = tgt.split("train").dims()
    scale = {m: rng.uniform(0.2, 5.0, d) for m, d in dims.items()}
    offset = {m: rng.normal(0, 3.0, d) for m, d in dims.items()}
    shifted = _affine(tgt, scale, offset)
    a = _target_predictions(src, tgt, "domain", tmp_path / "a")
    b = _target_predictions(src, shifted, "domain", tmp_path / "b")
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)  # padded steps stay masked
    raw_a = _target_predictions(src, tgt, "none", tmp_path / "c")
    raw_b = _target_predictions(src, shifted, "none", tmp_path / "d")
    assert not torch.allclose(raw_a, raw_b, atol=1e-2)  # without it the shift reaches the model


def test_statistics_are_per_domain_and_saved_with_the_weights(tmp_path):
    src, tgt = toy_domains(n=48)
    cfg = cfg_for("osan", "encoder.input_norm=domain")
    run = build(cfg, src, tgt, tmp_path)
    norm = run.method.encoder.input_norm
    mean_s = norm["source"]["text"].mean
    mean_t = norm["target"]["text"].mean
    assert not torch.allclose(mean_s, mean_t)  # the toy target is shifted
    state = run.method.state_dict()
    assert any(k.endswith("input_norm.target.text.std") for k in state)
    fresh = build_method(cfg, describe_dims(src, tgt), 1)
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh.encoder.input_norm["target"]["text"].mean, mean_t)

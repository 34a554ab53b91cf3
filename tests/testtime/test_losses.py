"""Each test-time loss against a direct computation (torch.distributions, numpy), and the
behaviour its formula promises."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from osan.testtime.shot_im import EPS as SHOT_EPS
from osan.testtime.shot_im import cluster_pseudo_labels, im_loss
from osan.testtime.ssa import EPS as SSA_EPS
from osan.testtime.ssa import direction_weights, gaussian_kl, ssa_loss
from osan.testtime.stats import principal_stats
from osan.testtime.tent import entropy, tent_loss


def test_gaussian_kl_equals_torch_distributions():
    g = torch.Generator().manual_seed(0)
    m1, m2 = torch.randn(7, generator=g), torch.randn(7, generator=g)
    v1, v2 = torch.rand(7, generator=g) + 0.1, torch.rand(7, generator=g) + 0.1
    want = kl_divergence(Normal(m1, v1.sqrt()), Normal(m2, v2.sqrt()))
    torch.testing.assert_close(gaussian_kl(m1, v1, m2, v2), want)
    assert torch.allclose(gaussian_kl(m1, v1, m1, v1), torch.zeros(7), atol=1e-6)


def _ssa_direct(z, mean, basis, var, w, bias):
    """L_SSA computed row by row in float64 numpy, the KL by torch.distributions."""
    z, mean, basis, var = (np.asarray(a, dtype=np.float64) for a in (z, mean, basis, var))
    total = 0.0
    for d in range(basis.shape[1]):
        p = np.array([(row - mean) @ basis[:, d] for row in z])
        m_t, v_t = p.mean(), p.var(ddof=1) + SSA_EPS
        v_s = var[d] + SSA_EPS
        t = Normal(torch.tensor(m_t), torch.tensor(math.sqrt(v_t)))
        s = Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(math.sqrt(v_s)))
        sym = float(kl_divergence(t, s) + kl_divergence(s, t))
        alpha = abs(float(np.asarray(w, dtype=np.float64) @ basis[:, d])) + bias
        total += alpha * sym
    return total


def test_ssa_loss_equals_a_direct_computation():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(32, 6, generator=g) * 2 + 0.5
    mean = torch.randn(6, generator=g)
    basis, _ = torch.linalg.qr(torch.randn(6, 3, generator=g))  # orthonormal (6, 3)
    var = torch.rand(3, generator=g) + 0.5
    w = torch.randn(1, 6, generator=g)
    weight = direction_weights(w, basis, bias=1.0)
    got = ssa_loss(z, mean, basis, var, weight)
    want = _ssa_direct(z.numpy(), mean.numpy(), basis.numpy(), var.numpy(), w[0].numpy(), 1.0)
    assert float(got) == pytest.approx(want, rel=1e-4)


def test_direction_weights_are_abs_projection_of_the_regressor_plus_bias():
    w = torch.tensor([[3.0, -4.0]])
    basis = torch.eye(2)
    torch.testing.assert_close(direction_weights(w, basis, 1.0), torch.tensor([4.0, 5.0]))


def test_ssa_loss_is_near_zero_on_source_like_features_and_grows_with_shift():
    g = torch.Generator().manual_seed(2)
    src = torch.randn(4000, 5, generator=g) * torch.tensor([3.0, 2.0, 1.0, 0.5, 0.2])
    stats = principal_stats(src.double(), k=3)
    w = torch.ones(1, 5)
    weight = direction_weights(w, stats["basis"], 1.0)
    same = ssa_loss(src[:2000], stats["mean"], stats["basis"], stats["var"], weight)
    shifted = ssa_loss(src[:2000] + 1.0, stats["mean"], stats["basis"], stats["var"], weight)
    scaled = ssa_loss(src[:2000] * 2.0, stats["mean"], stats["basis"], stats["var"], weight)
    assert float(same) < 0.02
    assert float(shifted) > 10 * float(same) + 0.1 and float(scaled) > 0.5


def test_principal_stats_are_the_covariance_eigenpairs():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(5000, 4, generator=g, dtype=torch.float64) * torch.tensor(
        [0.5, 3.0, 1.0, 2.0], dtype=torch.float64
    )
    st = principal_stats(x, k=2)
    basis = st["basis"].double()
    torch.testing.assert_close(
        basis.T @ basis, torch.eye(2, dtype=torch.float64), atol=1e-5, rtol=0
    )
    proj = (x - st["mean"].double()) @ basis  # (N, 2)
    np.testing.assert_allclose(st["var"].numpy(), proj.var(0, unbiased=False).numpy(), rtol=1e-4)
    assert abs(float(basis[1, 0])) > 0.99 and abs(float(basis[3, 1])) > 0.99  # widest first


def _entropy_direct(logits: np.ndarray) -> np.ndarray:
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return -(p * np.log(p)).sum(1)


def test_tent_loss_is_the_mean_prediction_entropy():
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(16, 5, generator=g) * 3
    want = _entropy_direct(logits.double().numpy())
    np.testing.assert_allclose(entropy(logits).numpy(), want, rtol=1e-5)
    assert float(tent_loss(logits)) == pytest.approx(want.mean(), rel=1e-5)
    assert float(tent_loss(torch.zeros(3, 4))) == pytest.approx(math.log(4), rel=1e-6)


def test_im_loss_is_mean_entropy_minus_entropy_of_the_mean():
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(16, 4, generator=g) * 2
    lg = logits.double().numpy()
    p = np.exp(lg - lg.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    pm = p.mean(0)
    want = _entropy_direct(lg).mean() + (pm * np.log(pm + SHOT_EPS)).sum()
    assert float(im_loss(logits)) == pytest.approx(want, rel=1e-5)
    # confident and diverse: -log K; confident and collapsed on one class: ~0
    diverse = torch.eye(4) * 50
    collapsed = torch.zeros(4, 4)
    collapsed[:, 0] = 50
    assert float(im_loss(diverse)) == pytest.approx(-math.log(4), abs=1e-3)
    assert float(im_loss(collapsed)) == pytest.approx(0.0, abs=1e-3)


def test_cluster_pseudo_labels_follow_the_feature_clusters_not_the_noisy_predictions():
    g = torch.Generator().manual_seed(6)
    centres = torch.tensor([[5.0, 0.0], [0.0, 5.0]])
    truth = torch.arange(40) % 2
    feats = centres[truth] + 0.3 * torch.randn(40, 2, generator=g)
    probs = torch.where(truth[:, None] == torch.arange(2), 0.7, 0.3)  # (N, 2) right, soft
    flipped = torch.rand(40, generator=g) < 0.25
    probs[flipped] = probs[flipped].flip(1)  # a quarter predicted wrongly
    labels = cluster_pseudo_labels(feats, probs)
    assert torch.equal(labels, truth)

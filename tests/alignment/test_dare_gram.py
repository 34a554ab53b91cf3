"""DARE-GRAM against NumPy's pinv and eigh; its invariances and finite gradients."""

import numpy as np
import pytest
import torch

from osan.alignment.dare_gram import dare_gram, explained_variance_k


def batches(b=12, p=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, p, generator=g, dtype=torch.float64) * torch.linspace(3, 0.5, p).double()
    y = x + 0.5 * torch.randn(b, p, generator=g, dtype=torch.float64) + 0.3
    return x, y


def numpy_k(lam: np.ndarray, t: float) -> int:
    share = np.cumsum(lam) / lam.sum()
    t = share[1] if share[1] > t else t
    return int(np.nonzero(share <= t)[0][-1])


def numpy_dare_gram(x: np.ndarray, y: np.ndarray, t: float) -> tuple[float, float]:
    """The paper's computation, directly: Gram of [1 | H], eigh, pinv with a relative cutoff."""
    grams, lams = [], []
    for h in (x, y):
        z = np.hstack([np.ones((len(h), 1)), h])
        gram = z.T @ z
        lam = np.sort(np.linalg.eigvalsh(gram))[::-1]
        grams.append(gram)
        lams.append(lam)
    k = max(numpy_k(lams[0], t), numpy_k(lams[1], t))
    pinvs = []
    for gram, lam in zip(grams, lams, strict=True):
        # keep λ_0..λ_k: the cutoff sits halfway between λ_k and λ_{k+1}
        cut = (lam[k] + lam[k + 1]) / 2 / lam[0] if k + 1 < len(lam) else 0.0
        pinvs.append(np.linalg.pinv(gram, rcond=cut, hermitian=True))
    a, b = pinvs
    cos = (a * b).sum(0) / (np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0))
    angle = np.abs(1 - cos).sum() / len(cos)
    scale = np.linalg.norm(lams[0][:k] - lams[1][:k]) / k
    return float(angle), float(scale)


@pytest.mark.parametrize("threshold", [0.5, 0.9, 0.99])
def test_dare_gram_equals_numpy_pinv_and_eigh(threshold):
    x, y = batches()
    angle, scale = dare_gram(x, y, threshold=threshold)
    want = numpy_dare_gram(x.numpy(), y.numpy(), threshold)
    assert angle.item() == pytest.approx(want[0], rel=1e-7)
    assert scale.item() == pytest.approx(want[1], rel=1e-7)


def test_k_is_the_larger_of_the_two_domains():
    x, _ = batches(p=6)
    g = torch.Generator().manual_seed(7)
    y = torch.randn(12, 6, generator=g, dtype=torch.float64)  # isotropic: a larger k
    lam = [np.sort(np.linalg.eigvalsh(np.hstack([np.ones((12, 1)), h]).T @ np.hstack(
        [np.ones((12, 1)), h])))[::-1] for h in (x.numpy(), y.numpy())]  # fmt: skip
    assert numpy_k(lam[0], 0.9) < numpy_k(lam[1], 0.9)
    for a, b in ((x, y), (y, x)):
        angle, scale = dare_gram(a, b, threshold=0.9)
        want = numpy_dare_gram(a.numpy(), b.numpy(), 0.9)
        assert (angle.item(), scale.item()) == pytest.approx(want, rel=1e-7)


def test_rank_deficient_batch_equals_numpy_too():
    x, y = batches(b=5, p=9, seed=1)  # B < p + 1: the Gram matrices are singular
    angle, scale = dare_gram(x, y, threshold=0.9)
    want = numpy_dare_gram(x.numpy(), y.numpy(), 0.9)
    assert (angle.item(), scale.item()) == pytest.approx(want, rel=1e-6)


def test_k_follows_the_explained_variance_threshold():
    lam = torch.tensor([50.0, 30.0, 15.0, 5.0, 0.0])  # shares 0.5, 0.8, 0.95, 1, 1
    assert explained_variance_k(lam, 0.9) == 1
    assert explained_variance_k(lam, 0.96) == 2
    assert explained_variance_k(lam, 0.3) == 1  # the first two's share (0.8) raises T
    assert explained_variance_k(torch.tensor([99.0, 1.0, 0.0]), 0.5) == 2


def test_dare_gram_is_zero_for_identical_batches():
    x, _ = batches()
    angle, scale = dare_gram(x, x)
    assert angle.item() == pytest.approx(0.0, abs=1e-12) and scale.item() == 0.0
    far = dare_gram(x, 3 * batches(seed=5)[0] - 2)
    assert far[0].item() > 1e-3 and far[1].item() > 1.0


@pytest.mark.parametrize("case", ["rank_deficient", "coinciding_rows", "identical", "exact_ties"])
def test_dare_gram_gradient_is_finite_on_degenerate_batches(case):
    x, y = batches(b=6, p=16)  # B < p + 1
    if case == "coinciding_rows":
        x = torch.cat([x[:3], x[:3]])
    if case == "identical":
        y = x.clone()
    if case == "exact_ties":  # Z = [1 | H] with orthogonal, equal-norm columns
        x = torch.tensor([[1.0, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]).double()
        y = x.clone()
    x, y = x.float().requires_grad_(), y.float().requires_grad_()
    angle, scale = dare_gram(x, y)
    (angle + 0.02 * scale).backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all()
    if case in ("rank_deficient", "coinciding_rows"):
        assert x.grad.abs().sum() > 0

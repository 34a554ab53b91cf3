import pytest
import torch

from osan.mixing.ddg import Generated
from osan.mixing.mixup import MixupGenerator, mixup

B, D, H = 3, 5, 8


@pytest.fixture
def st():
    g = torch.Generator().manual_seed(0)
    return torch.randn(B, D, generator=g), torch.randn(B, D, generator=g)


def test_mixup_function(st):
    s, t = st
    m, label = mixup(s, t, 0.7)
    assert torch.allclose(m, 0.7 * s + 0.3 * t)
    assert label.item() == pytest.approx(0.3)
    m1, l1 = mixup(s, t, 1.0)
    assert torch.equal(m1, s) and l1.item() == 0.0
    lam = torch.tensor([[0.0], [0.5], [1.0]])  # one λ per sample
    m, label = mixup(s, t, lam)
    assert torch.allclose(m[0], t[0]) and torch.allclose(m[2], s[2])
    assert torch.allclose(label.view(-1), torch.tensor([1.0, 0.5, 0.0]))
    with pytest.raises(ValueError):
        mixup(s, t, 1.2)


def test_generator_identity_at_lambda_one(st):
    s, t = st
    out = MixupGenerator(heads=H, lam=1.0)(s, t)
    assert isinstance(out, Generated)
    assert torch.equal(out.source, s[:, None].expand(B, H, D))
    assert torch.equal(out.target, t[:, None].expand(B, H, D))
    assert torch.equal(out.source_domain_label, torch.zeros(H))
    assert torch.equal(out.target_domain_label, torch.ones(H))


def test_generator_labels_match_the_mixing(st):
    s, t = st
    out = MixupGenerator(heads=H, alpha=0.5)(s, t, generator=torch.Generator().manual_seed(1))
    lam = out.target_domain_label  # t' = λ t + (1 − λ) s has target probability λ
    assert lam.shape == (H,) and ((lam >= 0) & (lam <= 1)).all()
    assert torch.allclose(out.source_domain_label, 1 - lam)
    assert torch.allclose(out.source, lam[:, None] * s[:, None] + (1 - lam[:, None]) * t[:, None])
    assert torch.allclose(out.target, lam[:, None] * t[:, None] + (1 - lam[:, None]) * s[:, None])
    assert lam.unique().numel() == H  # one coefficient per head


def test_generator_deterministic_given_a_generator_and_subset_heads(st):
    s, t = st
    mix = MixupGenerator(heads=H, alpha=2.0)
    a = mix(s, t, generator=torch.Generator().manual_seed(7))
    b = mix(s, t, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a.source, b.source) and torch.equal(
        a.target_domain_label, b.target_domain_label
    )
    sub = mix(s, t, heads=torch.tensor([0, 5, 2]))
    assert sub.source.shape == (B, 3, D) and sub.source_domain_label.shape == (3,)


def test_beta_draws_have_the_right_mean_and_spread():
    lam = MixupGenerator(heads=4000, alpha=0.5).sample_lam(4000, torch.Generator().manual_seed(0))
    # Beta(0.5, 0.5): mean 1/2, variance 1/8
    assert lam.mean().item() == pytest.approx(0.5, abs=0.03)
    assert lam.var().item() == pytest.approx(0.125, abs=0.01)

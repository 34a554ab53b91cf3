import pytest
import torch

from osan.mixing.ddg import DynamicDomainGenerator, Generated

B, D, H = 4, 24, 6


@pytest.fixture
def st():
    g = torch.Generator().manual_seed(0)
    return torch.randn(B, D, generator=g), torch.randn(B, D, generator=g)


@pytest.fixture
def ddg():
    torch.manual_seed(0)
    return DynamicDomainGenerator(D, heads=H, lam=0.85, key_dim=4)


def test_shapes_and_soft_labels_all_heads_and_subset(ddg, st):
    s, t = st
    out = ddg(s, t)
    assert isinstance(out, Generated)
    assert out.source.shape == out.target.shape == (B, H, D)
    assert out.num_domains == H
    assert torch.allclose(out.source_domain_label, torch.full((H,), 0.15))
    assert torch.allclose(out.target_domain_label, torch.full((H,), 0.85))
    idx = torch.tensor([4, 1])
    sub = ddg(s, t, heads=idx, generator=torch.Generator())  # same call as MixupGenerator
    assert sub.source.shape == sub.target.shape == (B, 2, D)
    assert sub.source_domain_label.shape == (2,)
    # a subset evaluates exactly those heads
    assert torch.allclose(sub.source, out.source[:, idx], atol=1e-6)
    assert torch.allclose(sub.target, out.target[:, idx], atol=1e-6)


def test_lambda_one_is_identity(st):
    s, t = st
    out = DynamicDomainGenerator(D, heads=H, lam=1.0, key_dim=4)(s, t)
    assert torch.equal(out.source, s.unsqueeze(1).expand(B, H, D))
    assert torch.equal(out.target, t.unsqueeze(1).expand(B, H, D))
    assert torch.equal(out.source_domain_label, torch.zeros(H))
    assert torch.equal(out.target_domain_label, torch.ones(H))


def test_gate_averages_one_and_is_positive(ddg, st):
    s, t = st
    gate = ddg.relevance(s, t)  # Norm(p) = D * softmax
    assert gate.shape == (B, H, D)
    assert (gate > 0).all()
    assert torch.allclose(gate.mean(dim=-1), torch.ones(B, H), atol=1e-5)
    # and s' = λ s + (1 − λ) t ⊙ gate (Eq. 4)
    assert torch.allclose(ddg(s, t).source, 0.85 * s[:, None] + 0.15 * t[:, None] * gate, atol=1e-6)


def test_heads_are_different_domains(ddg, st):
    s, t = st
    out = ddg(s, t)
    for h in range(1, H):
        assert not torch.allclose(out.source[:, 0], out.source[:, h], atol=1e-3)
        assert not torch.allclose(out.target[:, 0], out.target[:, h], atol=1e-3)


def test_commonality_depends_on_the_query_sample(ddg, st):
    s, t = st
    lam = ddg.lam
    c1 = ddg(s, t).source - lam * s[:, None]
    s2 = s + torch.randn_like(s)
    c2 = ddg(s2, t).source - lam * s2[:, None]
    assert not torch.allclose(c1, c2, atol=1e-4)  # the gate on t changed with s


def test_gradients_reach_inputs_and_parameters(ddg, st):
    s, t = (x.clone().requires_grad_(True) for x in st)
    out = ddg(s, t)
    (out.source.square().sum() + out.target.pow(3).sum()).backward()
    for tensor in (s, t, *ddg.parameters()):
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all()
        assert tensor.grad.abs().sum() > 0


def test_invalid_inputs(ddg, st):
    s, t = st
    with pytest.raises(ValueError):
        ddg(s, t[:, :-1])
    with pytest.raises(ValueError):
        ddg(s, t, heads=torch.tensor([H]))
    with pytest.raises(ValueError):
        DynamicDomainGenerator(D, lam=1.5)

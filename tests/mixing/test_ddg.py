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


def _direct_eq4(ddg, s, t):
    """Eq. (4) written out head by head from the module's parameters (float64), without the
    fused kernel: q^h = W_Q^h s + b_Q^h, scores M^h_d = (t_d·(E_K^h q^h)_d + (B_K^h q^h)_d)/√r,
    the gate softmax(M^h) over d scaled by D, s'^h = λ·s + (1 − λ)·gate ⊙ t (and the
    reverse direction with s and t swapped). Shape: (B, D) -> (B, H, D) twice."""
    lam, r = ddg.lam, ddg.key_dim

    def mix(a, b):  # queries from a, keys and values on b
        rows = []
        for h in range(ddg.num_heads):
            q = a @ ddg.query_weight[h].T + ddg.query_bias[h]  # (B, r)
            m = (b * (q @ ddg.key_embed[h].T) + q @ ddg.key_bias[h].T) / r**0.5  # (B, D)
            gate = torch.softmax(m, dim=-1) * a.shape[1]  # (B, D)
            rows.append(lam * a + (1 - lam) * gate * b)
        return torch.stack(rows, dim=1)  # (B, H, D)

    return mix(s, t), mix(t, s)


def test_gradients_reach_inputs_and_parameters_as_eq4_written_out(ddg, st):
    """The fused forward/backward equals Eq. (4) written out with plain tensor operations:
    values, and the gradients of a loss w.r.t. both inputs and every DDG parameter."""
    ddg = ddg.double()
    s, t = (x.double().clone().requires_grad_(True) for x in st)
    params = [s, t, *ddg.parameters()]

    def grads(source, target):
        loss = source.square().sum() + target.pow(3).sum()
        return torch.autograd.grad(loss, params)

    out = ddg(s, t)
    want_s, want_t = _direct_eq4(ddg, s, t)
    torch.testing.assert_close(out.source, want_s)
    torch.testing.assert_close(out.target, want_t)
    for got, want in zip(grads(out.source, out.target), grads(want_s, want_t), strict=True):
        assert want.abs().sum() > 0
        torch.testing.assert_close(got, want)


def test_invalid_inputs(ddg, st):
    s, t = st
    with pytest.raises(ValueError):
        ddg(s, t[:, :-1])
    with pytest.raises(ValueError):
        ddg(s, t, heads=torch.tensor([H]))
    with pytest.raises(ValueError):
        DynamicDomainGenerator(D, lam=1.5)

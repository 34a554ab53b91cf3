"""DDG's fused forward/backward (``_GatedMix``) equals the autograd composition it replaced.

``DynamicDomainGenerator.forward_reference`` is the implementation before the fused path; the
fused one must give the same generated samples and the same gradients for s, t and every
parameter, up to float rounding: every difference at most ``rel`` times the largest entry of
the reference tensor (float64: 1e-13; float32: 2e-6, about 16 ulps).
"""

import pytest
import torch

import osan.mixing.ddg as ddg_mod
from osan.mixing.ddg import DynamicDomainGenerator, _GatedMix

B, D, H, R = 5, 33, 7, 4


def _module(dtype: torch.dtype, lam: float = 0.85) -> DynamicDomainGenerator:
    torch.manual_seed(0)
    return DynamicDomainGenerator(D, heads=H, lam=lam, key_dim=R).to(dtype)


def _inputs(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    s = torch.randn(B, D, generator=g, dtype=dtype)
    t = torch.randn(B, D, generator=g, dtype=dtype)
    return s, t


def _assert_rounding_equal(actual: torch.Tensor, expected: torch.Tensor, rel: float, what: str):
    """|actual − expected| ≤ rel · max|expected| elementwise (the sums of a gradient differ in
    order between the two paths, so the error scales with the tensor, not with each entry)."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, what
    actual, expected = actual.detach(), expected.detach()
    err = float((actual - expected).abs().max())
    scale = float(expected.abs().max())
    assert err <= rel * scale, f"{what}: max |diff| {err:.3g} > {rel:g} * {scale:.3g}"


def _outputs_and_grads(ddg, fn, s, t, heads, weights):
    """Generated samples and the gradients of a generic loss of both outputs."""
    ddg.zero_grad(set_to_none=True)
    s, t = s.clone().requires_grad_(True), t.clone().requires_grad_(True)
    out = fn(s, t, heads=heads)
    w_s, w_t = weights
    # a loss whose gradient differs per element (not a plain sum)
    loss = (out.source * w_s).sum() + (out.target.square() * w_t).sum()
    loss.backward()
    grads = {"s": s.grad, "t": t.grad}
    grads.update({name: p.grad for name, p in ddg.named_parameters()})
    return out, grads


@pytest.mark.parametrize("dtype,rel", [(torch.float64, 1e-13), (torch.float32, 2e-6)])
@pytest.mark.parametrize("heads", [None, [4, 1, 6]])
@pytest.mark.parametrize("lam", [0.85, 0.3])
@pytest.mark.parametrize("chunk", [ddg_mod.CHUNK_ELEMENTS, 2 * 2 * B * D])  # 1 or 2 heads/chunk
def test_fused_equals_reference(dtype, rel, heads, lam, chunk, monkeypatch):
    monkeypatch.setattr(ddg_mod, "CHUNK_ELEMENTS", chunk)
    ddg = _module(dtype, lam)
    s, t = _inputs(dtype)
    idx = None if heads is None else torch.tensor(heads)
    n_heads = H if heads is None else len(heads)
    g = torch.Generator().manual_seed(2)
    weights = tuple(torch.randn(B, n_heads, D, generator=g, dtype=dtype) for _ in range(2))
    fast, g_fast = _outputs_and_grads(ddg, ddg.forward, s, t, idx, weights)
    ref, g_ref = _outputs_and_grads(ddg, ddg.forward_reference, s, t, idx, weights)
    _assert_rounding_equal(fast.source, ref.source, rel, "source")
    _assert_rounding_equal(fast.target, ref.target, rel, "target")
    assert fast.source.is_contiguous() and fast.target.is_contiguous()
    torch.testing.assert_close(fast.source_domain_label, ref.source_domain_label)
    torch.testing.assert_close(fast.target_domain_label, ref.target_domain_label)
    assert g_fast.keys() == g_ref.keys()
    used = set(range(H)) if heads is None else set(heads)
    for name in g_ref:
        head = name.rsplit(".", 1)[-1]
        if head.isdigit() and int(head) not in used:  # a head of another step: no gradient
            assert g_ref[name] is None and g_fast[name] is None, name
            continue
        assert g_ref[name] is not None, name
        _assert_rounding_equal(g_fast[name], g_ref[name], rel, f"grad {name}")


def test_fused_one_output_used_and_frozen_inputs():
    """Only the source output in the loss, s without gradient: the fused backward handles a
    missing output gradient and inputs that need none."""
    ddg = _module(torch.float64)
    s, t = _inputs(torch.float64)
    grads = []
    for fn in (ddg.forward, ddg.forward_reference):
        ddg.zero_grad(set_to_none=True)
        t_req = t.clone().requires_grad_(True)
        out = fn(s, t_req)
        out.source.pow(3).sum().backward()
        grads.append([t_req.grad] + [p.grad for p in ddg.parameters()])
    for i, (fast, ref) in enumerate(zip(*grads, strict=True)):
        _assert_rounding_equal(fast, ref, 1e-13, f"grad {i}")


def test_gated_mix_gradcheck():
    g = torch.Generator().manual_seed(3)
    n, d, h, r = 4, 6, 3, 2

    def rand(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_(True)

    x, y, q = rand(n, d), rand(n, d), rand(n, h, r)
    e_k, b_k = rand(h, d, r), rand(h, d, r)
    assert torch.autograd.gradcheck(
        lambda *a: _GatedMix.apply(*a, 0.7, 1), (x, y, q, e_k, b_k), eps=1e-6, atol=1e-8
    )


def test_lambda_one_is_exactly_the_input():
    ddg = _module(torch.float32, lam=1.0)
    s, t = _inputs(torch.float32)
    out = ddg(s, t)
    assert torch.equal(out.source, s.unsqueeze(1).expand(B, H, D))
    assert torch.equal(out.target, t.unsqueeze(1).expand(B, H, D))

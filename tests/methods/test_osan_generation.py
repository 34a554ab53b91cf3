"""OSAN's generated domains: the batch is dealt out over the step's heads (one generated row
per sample and direction reaches the discriminator), and this split computes Eq. (4) for each
row under that row's own head."""

import pytest
import torch

from osan.config import ConfigError
from osan.methods import build_method
from osan.mixing.ddg import DynamicDomainGenerator
from osan.mixing.mixup import MixupGenerator
from osan.train.trainer import describe_dims
from tests.methods.test_baselines import batches, cfg_for


def _discriminator_rows(method, s, t) -> list[int]:
    """Rows of every discriminator call during one training step."""
    rows: list[int] = []
    hook = method.discriminator.register_forward_hook(lambda m, i, o: rows.append(i[0].shape[0]))
    try:
        method.training_step(s, t, 0.5)
    finally:
        hook.remove()
    return rows


@pytest.mark.parametrize("kind", ["osan", "osan-mixup"])
def test_split_sends_one_generated_row_per_sample(kind):
    src, tgt, s, t = batches(n=48)
    cfg = cfg_for(kind, "ddg.heads=16", "ddg.heads_per_step=4")
    method = build_method(cfg, describe_dims(src, tgt), 1).train()
    # first call: the 2B real rows; second: the generated rows of both directions (B each)
    assert _discriminator_rows(method, s, t) == [96, 96]


def test_split_is_each_rows_own_head_of_the_full_generation():
    """Values AND gradients (inputs and every DDG parameter): the split path is the full
    generation restricted to each row's own head, for training as well as for the forward."""
    torch.manual_seed(0)
    ddg = DynamicDomainGenerator(12, heads=6, lam=0.8, key_dim=3)
    s = torch.randn(9, 12, requires_grad=True)
    t = torch.randn(9, 12, requires_grad=True)
    heads = torch.tensor([4, 1, 3])
    full = ddg(s, t, heads=heads)  # (9, 3, 12): every row through every head
    split = ddg.forward_split(s, t, heads)  # (9, 1, 12): row i through heads[i % 3]
    assert split.source.shape == (9, 1, 12)
    own = torch.arange(9) % 3  # (9,) the column of each row's head in ``full``
    for i in range(9):
        torch.testing.assert_close(split.source[i, 0], full.source[i, own[i]])
        torch.testing.assert_close(split.target[i, 0], full.target[i, own[i]])
    assert torch.allclose(split.source_domain_label, torch.tensor([0.2]))

    # the same scalar loss of the same generated rows, taken from either path
    w_s, w_t = torch.randn(9, 12), torch.randn(9, 12)  # (9, D) weights of a linear loss

    def grads(gen_s, gen_t):  # gen_*: (9, D) -> d loss / d (s, t, parameters)
        loss = (w_s * gen_s).sum() + (w_t * gen_t.tanh()).sum()
        wrt = [s, t, *ddg.parameters()]
        got = torch.autograd.grad(loss, wrt, allow_unused=True)
        return [torch.zeros_like(x) if g is None else g for x, g in zip(wrt, got, strict=True)]

    rows = torch.arange(9)
    want = grads(full.source[rows, own], full.target[rows, own])
    got = grads(split.source[:, 0], split.target[:, 0])
    names = ["s", "t", *(n for n, _ in ddg.named_parameters())]
    assert any(g.abs().sum() > 0 for g in want[2:])  # the parameters do get a gradient
    for name, g, w in zip(names, got, want, strict=True):
        torch.testing.assert_close(g, w, msg=lambda m, name=name: f"d loss / d {name}: {m}")


def test_split_drops_the_remainder_rows_and_uses_at_most_b_heads():
    """B = 10 rows over H' = 4 heads: n = B // H' = 2 rows per head, rows 8 and 9 dropped, row
    i through heads[i mod 4]; B = 3 < H': the first 3 heads, row i through heads[i]. Each
    generated row equals that row's column of the full generation (every row, every head)."""
    torch.manual_seed(0)
    ddg = DynamicDomainGenerator(5, heads=8, key_dim=2)
    heads = torch.tensor([6, 1, 3, 0])
    s, t = torch.randn(10, 5), torch.randn(10, 5)
    for b, used, column in ((10, heads, lambda i: i % 4), (3, heads[:3], lambda i: i)):
        split = ddg.forward_split(s[:b], t[:b], heads)
        rows = b // len(heads) * len(heads) if b >= len(heads) else b  # 8, then 3
        assert split.source.shape == split.target.shape == (rows, 1, 5)
        full = ddg(s[:rows], t[:rows], heads=used)  # (rows, H'', 5)
        for i in range(rows):
            torch.testing.assert_close(split.source[i, 0], full.source[i, column(i)])
            torch.testing.assert_close(split.target[i, 0], full.target[i, column(i)])


def test_only_the_heads_used_get_gradients():
    torch.manual_seed(0)
    ddg = DynamicDomainGenerator(6, heads=5, key_dim=2)
    gen = ddg.forward_split(torch.randn(4, 6), torch.randn(4, 6), torch.tensor([0, 3]))
    (gen.source.square().sum() + gen.target.sum()).backward()
    for params in (ddg.query_weight, ddg.query_bias, ddg.key_embed, ddg.key_bias):
        # heads not used this step get no gradient at all: the optimiser leaves them alone
        assert [p.grad is not None for p in params] == [True, False, False, True, False]
    assert ddg.key_embed[0].grad.abs().sum() > 0


def test_mixup_split_gives_each_row_its_heads_coefficient_and_label():
    gen = MixupGenerator(heads=8, alpha=1.0)
    s, t = torch.zeros(6, 3), torch.ones(6, 3)
    out = gen.forward_split(
        s, t, torch.tensor([2, 5, 7]), generator=torch.Generator().manual_seed(0)
    )
    lam = 1.0 - out.source_domain_label[:, 0]  # (6,) λ of each row
    assert torch.equal(lam[:3], lam[3:])  # row i uses head i mod 3
    assert len(set(lam[:3].tolist())) == 3
    torch.testing.assert_close(out.source[:, 0, 0], 1.0 - lam)  # λ·0 + (1 − λ)·1
    torch.testing.assert_close(out.target_domain_label[:, 0], lam)


def test_the_retired_assign_option_is_refused_by_name():
    with pytest.raises(ConfigError, match=r"ddg.assign='all' was retired .* last in commit"):
        cfg_for("osan", "ddg.assign=all")


def test_split_with_every_head_per_step_still_reaches_every_head_when_b_is_smaller():
    src, tgt, s, t = batches(n=8)  # B = 8 rows, H = 32 heads, all heads "per step"
    cfg = cfg_for("osan", "ddg.heads=32", "ddg.heads_per_step=0")
    method = build_method(cfg, describe_dims(src, tgt), 1).train()
    seen: set[int] = set()
    split = method.generator.forward_split

    def record(s_, t_, heads, **kwargs):
        seen.update(heads[: len(s_)].tolist())
        return split(s_, t_, heads, **kwargs)

    method.generator.forward_split = record
    for _ in range(30):
        method.training_step(s, t, 0.5)
    assert seen == set(range(32))

"""The trainer's optimiser: AdamW's fused kernel (``optim.fused``, the default) makes the same
update as the for-loop implementation, up to float rounding."""

import torch

from osan.methods import build_method
from osan.train.optim import make_optimizer
from osan.train.trainer import describe_dims
from tests.methods.test_baselines import batches, cfg_for


def _train(fused: bool, steps: int = 15) -> tuple[torch.optim.Optimizer, list[torch.Tensor]]:
    src, tgt, s, t = batches(n=32)
    cfg = cfg_for("dann", f"optim.fused={str(fused).lower()}", "optim.lr=3e-3")
    torch.manual_seed(0)
    method = build_method(cfg, describe_dims(src, tgt), 1).eval()  # eval: no dropout draws
    opt, sched = make_optimizer(method, cfg, steps)
    for _ in range(steps):
        loss = method.training_step(s, t, 0.5).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return opt, [p.detach().clone() for p in method.parameters()]


def test_fused_adamw_is_the_default_and_matches_the_for_loop_update():
    opt_fused, fused = _train(True)
    opt_loop, loop = _train(False)
    assert opt_fused.defaults["fused"] is True
    assert not opt_loop.defaults["fused"]
    moved = max(float((a - b).abs().max()) for a, b in zip(fused, _initial(), strict=True))
    assert moved > 1e-3  # the parameters did move
    for a, b in zip(fused, loop, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def _initial() -> list[torch.Tensor]:
    src, tgt, _, _ = batches(n=32)
    torch.manual_seed(0)
    method = build_method(cfg_for("dann"), describe_dims(src, tgt), 1)
    return [p.detach().clone() for p in method.parameters()]

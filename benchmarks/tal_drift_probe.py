"""Probe: how far TAL's projected coordinates drift from unit variance while OSAN trains.

Trains OSAN on msa (size 0.3, equal dims, seed 0) for a few epochs and prints, every 4 steps,
the source task loss, the per-coordinate std of the projected text coordinates
(``TensorAlignment.project_modes``; Eq. 1 asks for 1) and the largest column norm of U_text.

    .venv/bin/python benchmarks/tal_drift_probe.py                      # default OSAN, task only
    .venv/bin/python benchmarks/tal_drift_probe.py tal.eps=1.0
"""

from __future__ import annotations

import sys

import torch

from osan.config import load_config
from osan.data.domain import SplitLoader
from osan.data.generators import generate
from osan.methods import build_method


def main(extra: list[str]) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    source, target = generate("msa", seed=0, size=0.3, dims="same")
    over = ["loss.adv=false", "loss.dis=false", "tal.corr_weight=0", *extra]
    cfg = load_config(method="osan", overrides=over)
    model = build_method(cfg, {"source": source.dims(), "target": target.dims()}, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr)
    src = SplitLoader(source.split("train"), 64, shuffle=True, drop_last=True)
    tgt = SplitLoader(
        target.split("train").without_labels(), 64, shuffle=True, drop_last=True, labelled=False
    )
    step = 0
    for _ in range(3):
        for s, t in zip(src, tgt, strict=False):
            out = model.training_step(s, t, 0.1)
            opt.zero_grad()
            out.loss.backward()
            opt.step()
            model.on_step_end(out)
            step += 1
            if step % 4:
                continue
            with torch.no_grad():
                u = model.tal.project_modes(model.encoder(s, "source"), "source")["text"]
                q = torch.quantile(u.std(0).float(), torch.tensor([0.0, 0.5, 1.0])).tolist()
                norm = float(model.tal.projection("text", "source").norm(dim=0).max())
            print(
                f"step {step:3d} task {out.logs['task']:.3f} | projected text std "
                f"min/median/max {q[0]:.2f}/{q[1]:.2f}/{q[2]:.2f} | max |U_text col| {norm:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main(sys.argv[1:])

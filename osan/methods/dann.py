"""DANN: domain-adversarial training (Ganin et al., "Domain-Adversarial Training of Neural
Networks", JMLR 2016), in osan's harness; plus the GRL warm-up used by the two-stage baselines.

The Direct-Transfer model (per-modality encoders → concatenation → task head) and a domain
discriminator D behind a gradient-reversal layer R_λ on the fused features:

    L = L_task(h(f_s), y_s) + α · BCE(D(R_λ(f)), d),    d = 0 for source, 1 for target rows

with λ = ``grl_coeff(p)`` = grl_max·(2 / (1 + exp(−γ·p)) − 1), p the training progress (Ganin
§5.2.2). Minimising L trains D to tell the domains apart while R_λ makes the encoders confuse
it. Knobs: ``loss.alpha``, ``loss.grl_gamma``, ``loss.grl_max``, ``loss.disc_hidden``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from osan.alignment.adversarial import domain_accuracy, domain_adversarial_loss
from osan.config import Config
from osan.methods.base import Method, Phase, combine
from osan.nn.discriminator import DomainDiscriminator
from osan.nn.grl import grad_reverse
from osan.schedules import grl_coeff
from osan.types import Batch, StepOutput


def phase_progress(progress: float, phases: tuple[Phase, ...], name: str) -> float:
    """Progress within phase ``name`` in [0, 1], from the global progress and the phases'
    nominal fractions (the loop rounds phase boundaries to whole epochs, so this is exact only
    when the fractions divide the epochs). Lets a GRL warm-up restart when a phase starts,
    as a second training run would (MM-SADA's released code restarts it for its DANN stage)."""
    total = sum(p.fraction for p in phases)
    start = 0.0
    for p in phases:
        if p.name == name:
            width = p.fraction / total
            return min(max((progress - start) / width, 0.0), 1.0) if width > 0 else 1.0
        start += p.fraction / total
    raise ValueError(f"no phase {name!r} in {[p.name for p in phases]}")


def adversarial_terms(
    discriminator: DomainDiscriminator,
    f_s: Tensor,
    f_t: Tensor,
    coeff: float,
    source_weight: Tensor | None = None,
) -> tuple[Tensor, float]:
    """BCE of ``discriminator`` on reversed source (label 0) and target (label 1) features,
    and its domain accuracy (for the log). ``source_weight`` re-weights the source rows
    (target rows weigh 1), e.g. by an estimated class ratio under label shift.

    Shape: f_s (B_s, D), f_t (B_t, D), source_weight (B_s,) -> () loss, float accuracy
    """
    r = grad_reverse(torch.cat([f_s, f_t]), coeff)  # (B_s + B_t, D)
    logits = discriminator(r)  # (B_s + B_t,)
    domain = torch.cat([torch.zeros(len(f_s)), torch.ones(len(f_t))]).to(logits)
    weight = None
    if source_weight is not None:
        weight = torch.cat([source_weight.to(logits), torch.ones(len(f_t)).to(logits)])
    return domain_adversarial_loss(logits, domain, weight), domain_accuracy(logits, domain)


class DANN(Method):
    """Direct Transfer + α·domain-adversarial loss on the fused features (one stage)."""

    name = "dann"

    def __init__(self, cfg: Config, dims: dict[str, dict[str, int]], num_outputs: int) -> None:
        super().__init__(cfg, dims, num_outputs)
        self.head = self.make_head(self.feature_dim)
        self.discriminator = DomainDiscriminator(self.feature_dim, hidden=cfg.loss.disc_hidden)

    def reversal_coeff(self, progress: float) -> float:
        """λ of the gradient-reversal layer at training progress ``progress``."""
        loss = self.cfg.loss
        return grl_coeff(progress, gamma=loss.grl_gamma, max_coeff=loss.grl_max)

    def training_step(self, src: Batch, tgt: Batch, progress: float) -> StepOutput:
        f_s = self.features(src, "source")  # (B, D)
        f_t = self.features(tgt, "target")  # (B, D)
        coeff = self.reversal_coeff(progress)
        adv, acc = adversarial_terms(self.discriminator, f_s, f_t, coeff)
        terms = {"task": self.task_loss(self.head(f_s), src.label), "adv": adv}
        out = combine(terms, {"adv": self.cfg.loss.alpha})
        out.logs.update(disc_acc=acc, grl_coeff=coeff)
        return out

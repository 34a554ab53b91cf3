"""MM-SADA: Multi-Modal Self-supervised Adversarial Domain Adaptation (Munro & Damen,
"Multi-modal Domain Adaptation for Fine-grained Action Recognition", CVPR 2020), in osan's
harness.

Per-modality encoders E_m → concatenation → task head h (the shared harness; MM-SADA itself sums
per-modality logits), plus

- modality correspondence, a self-supervised task on BOTH domains: a binary classifier C on the
  concatenated modality embeddings predicts whether they come from the same sample (label 1) or
  not (label 0). Negatives roll one modality's rows within the batch by a random shift, so each
  row pairs that modality with another sample's (one random modality per step):

      L_s = BCE(C([h_1, …, h_M]), 1) ⊕ BCE(C([h_1, …, roll(h_m), …, h_M]), 0),  both domains

- per-modality domain discriminators D_m behind gradient reversal R_λ, one per modality
  embedding (source label 0, target label 1):

      L_d = Σ_m BCE(D_m(R_λ(h_m)), d)

Total (MM-SADA's objective with λ_d = α = ``loss.alpha``, λ_s = ``baselines.ss_weight``):

    L = L_task(h(f_s), y_s) + λ_s · L_s + α · L_d

Stages, as in the authors' released scripts (``submit_mmsada.sh``: a "PretrainM" run with
classification + self-supervision, then a "DANN" run restored from it with all three losses,
its GRL warm-up restarting with the second run):

1. ``"pretrain"``: L_task + λ_s·L_s (no adversarial term);
2. ``"adapt"``: L_task + λ_s·L_s + α·L_d, with λ = ``grl_coeff`` of the progress WITHIN the
   phase (:func:`osan.methods.dann.phase_progress`).

The split is ``baselines.pretrain_fraction`` of the epochs (the authors: 3000 + 6000 steps).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from osan.alignment.adversarial import domain_accuracy
from osan.config import Config
from osan.methods.adda import ADAPT, PRETRAIN, two_stage_phases
from osan.methods.base import Method, Phase, combine, concat_fusion
from osan.methods.dann import adversarial_terms, phase_progress
from osan.nn.discriminator import DomainDiscriminator
from osan.schedules import grl_coeff
from osan.types import Batch, StepOutput


class CorrespondenceClassifier(nn.Module):
    """C: do the modality embeddings belong to one sample? One logit (1 = corresponding).

    Shape: (B, Σ E_m) -> (B,)
    """

    def __init__(self, in_dim: int, hidden: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)  # (B, 1) -> (B,)


class MMSADA(Method):
    """Task + modality-correspondence self-supervision, then + per-modality adversaries."""

    name = "mm-sada"
    phases = (Phase(PRETRAIN, 0.5), Phase(ADAPT, 0.5))

    def __init__(self, cfg: Config, dims: dict[str, dict[str, int]], num_outputs: int) -> None:
        super().__init__(cfg, dims, num_outputs)
        self.phases = two_stage_phases(cfg)
        self.head = self.make_head(self.feature_dim)
        self.correspondence = CorrespondenceClassifier(self.feature_dim, cfg.baselines.ss_hidden)
        self.discriminators = nn.ModuleDict(
            {
                m: DomainDiscriminator(e, hidden=cfg.loss.disc_hidden)
                for m, e in self.embed_dims.items()
            }
        )

    def mismatch(self, h: dict[str, Tensor]) -> dict[str, Tensor]:
        """Negatives: one random modality's rows rolled by a random shift in [1, B−1], so no
        row keeps its own embedding of that modality. {m: (B, E_m)} -> {m: (B, E_m)}"""
        b = next(iter(h.values())).shape[0]
        m = self.modalities[int(torch.randint(len(self.modalities), (), generator=self.rng))]
        shift = int(torch.randint(1, b, (), generator=self.rng))
        out = dict(h)  # same modality order, so the concatenation lines up
        out[m] = h[m].roll(shift, dims=0)
        return out

    def correspondence_loss(self, h: dict[str, Tensor]) -> tuple[Tensor, float]:
        """L_s on one domain's batch (B positives, B negatives) and C's accuracy."""
        x = torch.cat([concat_fusion(h), concat_fusion(self.mismatch(h))])  # (2B, Σ E_m)
        logits = self.correspondence(x)  # (2B,)
        b = len(x) // 2
        same = torch.cat([torch.ones(b), torch.zeros(b)]).to(logits)
        return F.binary_cross_entropy_with_logits(logits, same), domain_accuracy(logits, same)

    def training_step(self, src: Batch, tgt: Batch, progress: float) -> StepOutput:
        h_s = self.encoder(src, "source")  # {m: (B, E_m)}
        h_t = self.encoder(tgt, "target")  # {m: (B, E_m)}
        ss_s, acc_s = self.correspondence_loss(h_s)
        ss_t, acc_t = self.correspondence_loss(h_t)
        terms = {
            "task": self.task_loss(self.head(self.fuse(h_s, "source")), src.label),
            "ss": 0.5 * (ss_s + ss_t),
        }
        logs: dict[str, float] = {"ss_acc_source": acc_s, "ss_acc_target": acc_t}
        if self.phase == ADAPT:
            loss = self.cfg.loss
            coeff = grl_coeff(
                phase_progress(progress, self.phases, ADAPT),
                gamma=loss.grl_gamma,
                max_coeff=loss.grl_max,
            )
            adv = []
            for m in self.modalities:
                term, acc = adversarial_terms(self.discriminators[m], h_s[m], h_t[m], coeff)
                adv.append(term)
                logs[f"disc_acc_{m}"] = acc
            terms["adv"] = torch.stack(adv).sum()  # Σ_m over modalities
            logs["grl_coeff"] = coeff
        out = combine(terms, {"ss": self.cfg.baselines.ss_weight, "adv": self.cfg.loss.alpha})
        out.logs.update(logs)
        return out

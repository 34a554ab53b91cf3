"""ADDA: Adversarial Discriminative Domain Adaptation (Tzeng et al., CVPR 2017), in osan's
harness; plus the helpers shared by the two-stage baselines (ADDA, MM-SADA, MDMN).

Variant: ADDA as in Tzeng et al.'s Table 1 (discriminative base model, untied weights, GAN
loss), in two phases of the one training loop.

1. ``"pretrain"``: the source encoder M_s (source input projections + the shared sequence
   encoders of ``self.encoder``) and the task head h are trained on source labels,

       min_{M_s, h}  L_task(h(M_s(x_s)), y_s).

2. ``"adapt"``: at the phase start the TARGET encoder M_t is initialised from M_s (a copy of
   the sequence encoders in ``self.target_encoders``; the target input projections, already
   separate parameters of ``self.encoder``, get the source ones' weights where the input dims
   agree and keep their initialisation where they differ). M_s and h are frozen (outside the
   optimiser; source features are computed under ``no_grad``). Each step updates the
   discriminator D and M_t together (D's logit is "target", as everywhere in osan):

       L_D = BCE(D(f_s), 0) ⊕ BCE(D(f_t), 1)      f_s = M_s(x_s), f_t = M_t(x_t) detached
       L_M = BCE(D̄(f_t), 0)                       inverted label: M_t wants "source"
       loss = L_D + L_M

   The parameter sets are disjoint: L_D reaches only D (its inputs are detached) and L_M
   reaches only M_t, because it runs D̄ = D with detached weights
   (``torch.func.functional_call``), so one backward pass gives both players their own
   gradient and no gradient reversal is involved. ``⊕`` is the mean over the concatenated rows.

Prediction: ``predict``/``features`` on domain ``"target"`` go through M_t (after the adapt
phase has started), on ``"source"`` through M_s, both into the frozen head h.

Known limitation of source-validation model selection: selection happens in the last phase
("adapt"), where the source path M_s, h is frozen, so the source validation loss is the same
after every adapt epoch and says nothing about M_t. The loop breaks ties towards the later epoch
(``<=``), so the last adapt epoch is kept (the fully adapted target encoder). A label-free
validator that reads the target path (``selection=im``/``dev``, ``osan/eval/selection.py``) can
choose among adapt epochs instead.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from osan.alignment.adversarial import domain_accuracy, domain_adversarial_loss
from osan.config import Config, ConfigError
from osan.methods.base import Method, Phase, combine
from osan.nn.discriminator import DomainDiscriminator
from osan.nn.encoders import MultimodalEncoder
from osan.types import Batch, StepOutput

PRETRAIN, ADAPT = "pretrain", "adapt"


def two_stage_phases(cfg: Config) -> tuple[Phase, Phase]:
    """``("pretrain", f), ("adapt", 1 − f)`` with f = ``baselines.pretrain_fraction``; both
    phases must get at least one epoch under the loop's epoch rounding."""
    f = cfg.baselines.pretrain_fraction
    epochs = cfg.optim.epochs
    if not 0.0 < f < 1.0:
        raise ConfigError(f"baselines.pretrain_fraction must lie in (0, 1), got {f}")
    if f * epochs > epochs - 1:
        raise ConfigError(
            f"{cfg.method}: pretrain_fraction={f} of optim.epochs={epochs} leaves no 'adapt' "
            "epoch; raise optim.epochs or lower baselines.pretrain_fraction"
        )
    return (Phase(PRETRAIN, f), Phase(ADAPT, 1.0 - f))


def init_target_projection(encoder: MultimodalEncoder) -> list[str]:
    """Copy each modality's source input projection into the target one where the shapes agree
    (the per-domain projections are separate parameters; a pre-training phase on source labels
    trains only the source ones). Returns the modalities copied."""
    copied = []
    for m in encoder.modalities:
        src, tgt = encoder.input_proj["source"][m], encoder.input_proj["target"][m]
        src_state = src.state_dict()
        if all(v.shape == src_state[k].shape for k, v in tgt.state_dict().items()):
            tgt.load_state_dict(src_state)
            copied.append(m)
    return copied


class ADDA(Method):
    """Source pre-training, then an adversarially trained target encoder (GAN loss)."""

    name = "adda"
    phases = (Phase(PRETRAIN, 0.5), Phase(ADAPT, 0.5))
    share_input_projection = False  # ADDA's target encoder is untied from the source one

    def __init__(self, cfg: Config, dims: dict[str, dict[str, int]], num_outputs: int) -> None:
        super().__init__(cfg, dims, num_outputs)
        self.phases = two_stage_phases(cfg)
        self.head = self.make_head(self.feature_dim)
        # M_t's sequence encoders; overwritten from M_s when "adapt" starts.
        self.target_encoders = copy.deepcopy(self.encoder.encoders)
        self.discriminator = DomainDiscriminator(self.feature_dim, hidden=cfg.loss.disc_hidden)

    # -- representation -------------------------------------------------------------------
    def encode(self, batch: Batch, domain: str) -> dict[str, Tensor]:
        """M_s for source (and for target before "adapt"), M_t for target. {m: (B, E_m)}"""
        if domain != "target" or self.phase != ADAPT:
            return self.encoder(batch, domain)
        proj = self.encoder.input_proj["target"]
        out = {}
        for m in self.modalities:
            x = proj[m](batch.features[m])  # (B, L_m, hidden)
            out[m] = self.target_encoders[m](x, batch.lengths[m])  # (B, E_m)
        return out

    def features(self, batch: Batch, domain: str) -> Tensor:
        return self.fuse(self.encode(batch, domain), domain)  # (B, D)

    # -- phases ---------------------------------------------------------------------------
    def set_phase(self, name: str) -> None:
        # Only the pretrain → adapt transition initialises M_t: a run resumed inside "adapt"
        # restores phase = "adapt" from the checkpoint and keeps its trained M_t.
        if self.phase == PRETRAIN and name == ADAPT:
            self.target_encoders.load_state_dict(self.encoder.encoders.state_dict())
            init_target_projection(self.encoder)
        super().set_phase(name)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Named parameter groups: the source path, the target encoder, the discriminator."""
        return {
            "source": [
                *self.encoder.input_proj["source"].parameters(),
                *self.encoder.encoders.parameters(),
                *self.head.parameters(),
            ],
            "target": [
                *self.encoder.input_proj["target"].parameters(),
                *self.target_encoders.parameters(),
            ],
            "discriminator": list(self.discriminator.parameters()),
        }

    def trainable_parameters(self) -> list[nn.Parameter]:
        groups = self.parameter_groups()
        if self.phase == PRETRAIN:
            return groups["source"]
        return groups["target"] + groups["discriminator"]

    # -- losses ---------------------------------------------------------------------------
    def discriminator_loss(self, f_s: Tensor, f_t: Tensor) -> tuple[Tensor, float]:
        """L_D on detached features; trains D only. Shape: f_s (B_s, D), f_t (B_t, D)"""
        logits = self.discriminator(torch.cat([f_s, f_t]).detach())  # (B_s + B_t,)
        domain = torch.cat([torch.zeros(len(f_s)), torch.ones(len(f_t))]).to(logits)
        return domain_adversarial_loss(logits, domain), domain_accuracy(logits, domain)

    def generator_loss(self, f_t: Tensor) -> Tensor:
        """L_M = BCE(D̄(f_t), 0) through D with detached weights; trains M_t only.

        Shape: f_t (B_t, D) -> ()
        """
        frozen = {k: p.detach() for k, p in self.discriminator.named_parameters()}
        logits = torch.func.functional_call(self.discriminator, frozen, (f_t,))  # (B_t,)
        return domain_adversarial_loss(logits, 0.0)

    def training_step(self, src: Batch, tgt: Batch, progress: float) -> StepOutput:
        if self.phase == PRETRAIN:
            pred = self.head(self.features(src, "source"))
            return combine({"task": self.task_loss(pred, src.label)}, {})
        with torch.no_grad():
            f_s = self.features(src, "source")  # (B, D) frozen M_s
            task = self.task_loss(self.head(f_s), src.label)  # logged, not trained
        f_t = self.features(tgt, "target")  # (B, D) M_t
        disc, acc = self.discriminator_loss(f_s, f_t)
        out = combine({"disc": disc, "gen": self.generator_loss(f_t)}, {})
        out.logs.update(task=float(task), disc_acc=acc)
        return out

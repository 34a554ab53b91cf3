"""OSAN: the One-Stage Alignment Network (paper §3).

encoders → TAL (Eq. 1–3) → DDG (Eq. 4) → task head, domain discriminator, MK-MMD, trained in
one stage with  L = L_task + α·L_adv + β·L_dis (Eq. 5)  + γ·L_corr (TAL's correlation
objective that trains the encoders). The ablations of Tables 2/3/7/8 are config switches:
``tal.enabled``, ``ddg.enabled``, ``ddg.kind=mixup``, ``loss.adv``, ``loss.dis``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from osan.alignment.adversarial import domain_adversarial_loss
from osan.alignment.mmd import mk_mmd
from osan.alignment.pairing import pair_indices
from osan.alignment.tal import TensorAlignment
from osan.config import Config
from osan.methods.base import Gather, Method, combine, modality_dims, own_rows
from osan.mixing.ddg import DynamicDomainGenerator, Generated
from osan.mixing.mixup import MixupGenerator
from osan.nn.discriminator import DomainDiscriminator
from osan.nn.grl import grad_reverse
from osan.schedules import grl_coeff
from osan.types import Batch, StepOutput


def select_rows(h: dict[str, Tensor], index: Tensor) -> dict[str, Tensor]:
    """Rows ``index`` of every modality embedding. Shape: {m: (B, E_m)} -> {m: (B', E_m)}"""
    return {m: x[index] for m, x in h.items()}


class OSAN(Method):
    """One-Stage Alignment Network with its ablations as config switches."""

    name = "osan"

    def __init__(self, cfg: Config, dims: dict[str, dict[str, int]], num_outputs: int) -> None:
        super().__init__(cfg, dims, num_outputs)
        self.tal: TensorAlignment | None = None
        if cfg.tal.enabled:
            out = modality_dims(cfg.tal.out_dims, cfg.tal.default_out_dim, self.modalities)
            self.tal = TensorAlignment(
                self.embed_dims,
                self.embed_dims,
                out,
                eps=cfg.tal.eps,
                sweeps=cfg.tal.sweeps,
                momentum=cfg.tal.momentum,
                append_one=cfg.tal.append_one,
                orient=cfg.tal.orient,
                standardize=cfg.tal.standardize,
                orthonormal_output=cfg.tal.orthonormal_output,
                solver=cfg.tal.solver,
                tie=cfg.tal.tie,
                output_norm=cfg.tal.output_norm,
            )
        dim = self.feature_dim
        self.head = self.make_head(dim)
        self.discriminator = None
        if cfg.loss.adv:
            self.discriminator = DomainDiscriminator(dim, hidden=cfg.loss.disc_hidden)
        self.generator = None
        if cfg.ddg.enabled and cfg.loss.adv:
            if cfg.ddg.kind == "ddg":
                self.generator = DynamicDomainGenerator(
                    dim, heads=cfg.ddg.heads, lam=cfg.ddg.lam, key_dim=cfg.ddg.key_dim
                )
            else:
                self.generator = MixupGenerator(
                    heads=cfg.ddg.heads, lam=None, alpha=cfg.ddg.mixup_alpha
                )
        self._pending_tal: tuple[dict[str, Tensor], dict[str, Tensor]] | None = None
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))

    @property
    def feature_dim(self) -> int:
        if self.tal is not None:
            return self.tal.out_dim
        return super().feature_dim

    def fuse(self, h: dict[str, Tensor], domain: str) -> Tensor:
        if self.tal is not None:
            return self.tal.project(h, domain)  # (B, Π D_n) — Eq. (1)'s projected tensor
        return super().fuse(h, domain)

    # -- pieces of the step ---------------------------------------------------------------
    def pair(
        self, h_s: dict[str, Tensor], h_t: dict[str, Tensor], pred_t: Tensor, y_s: Tensor
    ) -> Tensor:
        """Source partner of each target row (never reads target labels). Shape: (B_t,)"""
        with torch.no_grad():
            emb_s = torch.cat([F.normalize(x, dim=-1) for x in h_s.values()], dim=-1)
            emb_t = torch.cat([F.normalize(x, dim=-1) for x in h_t.values()], dim=-1)
            guess = pred_t.argmax(-1) if self.task == "classification" else pred_t
            return pair_indices(
                self.cfg.tal.pairing,
                source_emb=emb_s,
                target_emb=emb_t,
                source_labels=y_s,
                target_pred=guess.detach(),
                task=self.task,
                generator=self.rng,
            )

    def adversarial_loss(self, f_s: Tensor, f_t: Tensor, pair: Tensor, progress: float) -> Tensor:
        """L_adv: the discriminator sees source (label 0), target (label 1) and the generated
        soft domains with soft labels; the encoders see the reversed gradient."""
        coeff = grl_coeff(progress, gamma=self.cfg.loss.grl_gamma, max_coeff=self.cfg.loss.grl_max)
        r_s = grad_reverse(f_s, coeff)  # (B, D)
        r_t = grad_reverse(f_t, coeff)  # (B, D)
        logits = self.discriminator(torch.cat([r_s, r_t]))  # (2B,)
        hard = torch.cat([torch.zeros(len(r_s)), torch.ones(len(r_t))]).to(logits)
        loss = domain_adversarial_loss(logits, hard)
        if self.generator is None:
            return loss
        heads = self.sample_heads()
        gen = self.generate(r_s[pair], r_t, heads)
        b, h, d = gen.source.shape
        logits = self.discriminator(torch.cat([gen.source, gen.target]).reshape(2 * b * h, d))
        labels = torch.cat(
            [
                gen.source_domain_label.to(gen.source).expand(b, h).reshape(-1),
                gen.target_domain_label.to(gen.target).expand(b, h).reshape(-1),
            ]
        )  # (2·B·H',) soft labels, in the order of the logits
        soft = domain_adversarial_loss(logits, labels)
        # Hard-labelled and generated samples weigh equally, whatever H' is.
        return 0.5 * (loss + soft)

    def generate(self, s: Tensor, t: Tensor, heads: Tensor | None) -> Generated:
        """The generated domains of this step for paired rows ``s[i] ↔ t[i]``.

        ``ddg.assign = "all"``: every row goes through every selected head (B·H' generated
        rows per direction). ``"split"`` (default): the batch is dealt out over the selected
        heads, row i to head i mod H' (``forward_split``), so each step still covers H'
        generated domains but sends B rows per direction to the discriminator, as many as it
        sees real ones. Both are unbiased estimates of the discriminator loss averaged over
        heads and samples (the heads are drawn uniformly); "split" costs about 1/H' of "all".

        Shape: s, t (B, D); heads (H',) or None (all H) -> Generated (B, H', D) or (≤B, 1, D)
        """
        assert self.generator is not None
        if self.cfg.ddg.assign == "all" or len(s) == 0:
            return self.generator(s, t, heads=heads, generator=self.rng)
        if heads is None:  # every head this step, in a random order (B may be < H)
            heads = torch.randperm(self.cfg.ddg.heads, generator=self.rng)
        return self.generator.forward_split(s, t, heads, generator=self.rng)

    def sample_heads(self) -> Tensor | None:
        total = self.cfg.ddg.heads
        k = self.cfg.ddg.heads_per_step
        if k <= 0 or k >= total:
            return None
        return torch.randperm(total, generator=self.rng)[:k]

    # -- the step: Eq. (5) ----------------------------------------------------------------
    def training_step(self, src: Batch, tgt: Batch, progress: float) -> StepOutput:
        h_s = self.encoder(src, "source")  # {m: (B, E_m)}
        h_t = self.encoder(tgt, "target")  # {m: (B, E_m)}
        f_s = self.fuse(h_s, "source")  # (B, D)
        f_t = self.fuse(h_t, "target")  # (B, D)
        pred_s = self.head(f_s)
        terms = {"task": self.task_loss(pred_s, src.label)}
        loss_cfg = self.cfg.loss
        needs_pairs = self.tal is not None or self.generator is not None
        pair = None
        if needs_pairs:
            with torch.no_grad():
                pred_t = self.head(f_t)
            pair = self.pair(h_s, h_t, pred_t, src.label)
        if self.tal is not None:
            h_sp = select_rows(h_s, pair)
            if self.cfg.tal.corr_weight > 0:
                terms["corr"] = self.tal.correlation_loss(h_sp, h_t)
            self._pending_tal = (
                {m: x.detach() for m, x in h_sp.items()},
                {m: x.detach() for m, x in h_t.items()},
            )
        if self.discriminator is not None:
            if pair is None:
                pair = torch.arange(len(f_t))
            terms["adv"] = self.adversarial_loss(f_s, f_t, pair, progress)
        if loss_cfg.dis:
            terms["dis"] = mk_mmd(
                f_s, f_t, num_kernels=loss_cfg.mmd_kernels, kernel_mul=loss_cfg.mmd_kernel_mul
            )
        weights = {"adv": loss_cfg.alpha, "dis": loss_cfg.beta, "corr": self.cfg.tal.corr_weight}
        return combine(terms, weights)

    def on_step_end(self, gather: Gather = own_rows) -> None:
        """TAL's closed-form alternating-projection update (Eq. 2) on this step's pairs.

        Runs after the optimiser step so that the projections used in the backward pass
        are not modified in place. ``gather`` maps the rows of this process to the rows the
        update's statistics are computed on (under DDP, every rank's: the loop passes it)."""
        self.steps_done += 1
        every = self.cfg.tal.update_every
        if self.tal is not None and self._pending_tal is not None:
            step = int(self.steps_done)
            if self.cfg.tal.solver == "gradient":
                due = step <= self.cfg.tal.cca_init_steps
            else:
                due = every > 0 and (step - 1) % every == 0
            if due:
                h_s, h_t = self._pending_tal
                self.tal.update(
                    {m: gather(x) for m, x in h_s.items()}, {m: gather(x) for m, x in h_t.items()}
                )
            self._pending_tal = None

"""OSAN: the One-Stage Alignment Network (paper §3).

encoders → TAL (Eq. 1–3) → DDG (Eq. 4) → task head, domain discriminator, MK-MMD, trained in
one stage with  L = L_task + α·L_adv + β·L_dis (Eq. 5)  + γ·L_corr (TAL's correlation
objective that trains the encoders). The ablations of Tables 2/3/7/8 are config switches:
``tal.enabled``, ``ddg.enabled``, ``ddg.kind=mixup``, ``loss.adv``, ``loss.dis``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from osan.alignment.adversarial import domain_adversarial_loss
from osan.alignment.conditioning import RandomizedMultilinear, prediction_condition
from osan.alignment.discrepancy import discrepancy
from osan.alignment.pairing import pair_indices
from osan.alignment.self_training import drop_time_steps, self_training_loss
from osan.alignment.tal import TensorAlignment
from osan.config import Config
from osan.methods.base import Gather, Method, combine, modality_dims, own_rows
from osan.methods.dann import adversarial_terms
from osan.mixing.ddg import DynamicDomainGenerator, Generated
from osan.mixing.mixup import MixupGenerator
from osan.nn.discriminator import DomainDiscriminator
from osan.nn.grl import grad_reverse
from osan.nn.modes import no_dropout
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
                normalize=cfg.tal.normalize,
                solver=cfg.tal.solver,
            )
        if self.tal is not None:  # per-block normalisation; the gate lets TAL in as it helps
            self.embed_norm = nn.LayerNorm(sum(self.embed_dims.values()))
            self.tal_norm = nn.LayerNorm(self.tal.out_dim)
            gate = torch.tensor(float(cfg.tal.gate_init))
            if cfg.tal.gate_trainable:
                self.tal_gate = nn.Parameter(gate)
            else:
                self.register_buffer("tal_gate", gate)
        self.head = self.make_head(self.feature_dim, norm=self.tal is None)
        dim = self.align_dim
        self.condition = None
        if cfg.loss.condition == "cdan" and cfg.loss.adv:
            k = num_outputs if cfg.task == "classification" else cfg.loss.condition_bins
            self.condition = RandomizedMultilinear(dim, k, cfg.loss.condition_dim, seed=cfg.seed)
            dim = cfg.loss.condition_dim  # the discriminator and DDG see T(a, g)
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
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))

    @property
    def feature_dim(self) -> int:
        if self.tal is None:
            return super().feature_dim
        return super().feature_dim + self.tal.out_dim

    @property
    def align_dim(self) -> int:
        """Width of what the discriminator, DDG and MK-MMD see (see :meth:`represent`)."""
        return self.feature_dim if self.tal is None else self.tal.out_dim

    @property
    def adv_dim(self) -> int:
        """Width of what the discriminator and DDG see: T(a, g) under ``loss.condition=cdan``,
        else the aligned representation (``align_dim``)."""
        return self.align_dim if self.condition is None else self.condition.out_dim

    def represent(self, h: dict[str, Tensor], domain: str) -> tuple[Tensor, Tensor]:
        """The representation the heads read, and the one the domain losses align.

        With TAL: f = [LN(h_1; …; h_N), g · LN(TAL tensor)], g a learned scalar (initialised at
        ``tal.gate_init``); the domain losses align a = LN(TAL tensor), ungated: alignment acts
        in TAL's space, the head reads both blocks. Without TAL: f = a = [h_1; …; h_N].

        Shape: {m: (B, E_m)} -> f (B, feature_dim), a (B, align_dim)
        """
        if self.tal is None:
            f = super().fuse(h, domain)
            return f, f
        t = self.tal_norm(self.tal.project(h, domain))  # (B, T) — Eq. (1)'s projected tensor
        e = super().fuse(h, domain)  # (B, Σ E_m), the concatenated embeddings
        f = torch.cat([self.embed_norm(e), self.tal_gate * t], dim=-1)  # (B, Σ E_m + T)
        return f, t

    def fuse(self, h: dict[str, Tensor], domain: str) -> Tensor:
        """The representation the heads read (:meth:`represent`). Shape: (B, feature_dim)"""
        return self.represent(h, domain)[0]

    @torch.no_grad()
    def clean_predict(self, batch: Batch, domain: str) -> Tensor:
        """Predictions without dropout and without gradient (OSAN+'s teacher on the source).

        Shape: (B,) regression values or (B, K) logits"""
        was_training = self.training
        self.train(False)
        try:
            return self.head(self.features(batch, domain))
        finally:
            self.train(was_training)

    # -- pieces of the step ---------------------------------------------------------------
    def consistency(self, batch: Batch, domain: str, clean: Tensor | None) -> Tensor:
        """OSAN+'s self-training term on one batch: a dropped view (``loss.st_mask``) learns
        the teacher's prediction ``clean`` (without dropout and without gradient; ``None``:
        computed here by :meth:`clean_predict`).

        Shape: clean (B,) or (B, K) or None -> () scalar"""
        loss_cfg = self.cfg.loss
        if clean is None:
            clean = self.clean_predict(batch, domain)
        view = drop_time_steps(batch, loss_cfg.st_mask, self.rng)
        student = self.head(self.features(view, domain))
        return self_training_loss(
            student, clean, self.task, loss_cfg.st_threshold, loss_cfg.st_center
        )

    def pair(
        self, h_s: dict[str, Tensor], h_t: dict[str, Tensor], pred_t: Tensor | None, y_s: Tensor
    ) -> Tensor:
        """Source partner of each target row (never reads target labels); ``pred_t`` (the
        target predictions) only for ``tal.pairing = "pseudo_label"``. Shape: (B_t,)"""
        with torch.no_grad():
            emb_s = torch.cat([F.normalize(x, dim=-1) for x in h_s.values()], dim=-1)
            emb_t = torch.cat([F.normalize(x, dim=-1) for x in h_t.values()], dim=-1)
            guess = None
            if pred_t is not None:
                guess = pred_t.argmax(-1) if self.task == "classification" else pred_t
            return pair_indices(
                self.cfg.tal.pairing,
                source_emb=emb_s,
                target_emb=emb_t,
                source_labels=y_s,
                target_pred=guess,
                task=self.task,
                generator=self.rng,
            )

    def adversarial_loss(self, f_s: Tensor, f_t: Tensor, pair: Tensor, progress: float) -> Tensor:
        """L_adv: the discriminator sees source (label 0), target (label 1) and the generated
        soft domains with soft labels; the encoders see the reversed gradient.

        The generator mixes the features themselves and the reversal sits between it and the
        discriminator, so its gates are trained to confuse the discriminator (to pick what the
        domains share, §3.2's commonality).

        Shape: f_s, f_t (B, D); pair (B,) -> ()
        """
        coeff = grl_coeff(progress, gamma=self.cfg.loss.grl_gamma, max_coeff=self.cfg.loss.grl_max)
        loss, _ = adversarial_terms(self.discriminator, f_s, f_t, coeff)
        if self.generator is None:
            return loss
        gen = self.generate(f_s[pair], f_t, self.sample_heads())
        gen_s, gen_t = grad_reverse(gen.source, coeff), grad_reverse(gen.target, coeff)
        b, h, d = gen_s.shape
        logits = self.discriminator(torch.cat([gen_s, gen_t]).reshape(2 * b * h, d))
        labels = torch.cat(
            [
                gen.source_domain_label.to(gen_s).expand(b, h).reshape(-1),
                gen.target_domain_label.to(gen_t).expand(b, h).reshape(-1),
            ]
        )  # (2·B·H',) soft labels, in the order of the logits
        soft = domain_adversarial_loss(logits, labels)
        # Hard-labelled and generated samples weigh equally, whatever H' is.
        return 0.5 * (loss + soft)

    def generate(self, s: Tensor, t: Tensor, heads: Tensor | None) -> Generated:
        """The generated domains of this step for paired rows ``s[i] ↔ t[i]``.

        The batch is dealt out over the selected heads, row i to head i mod H'
        (``forward_split``), so each step still covers H' generated domains but sends B rows
        per direction to the discriminator, as many as it sees real ones: an unbiased estimate
        of the discriminator loss averaged over heads and samples (the heads are drawn
        uniformly) at about 1/H' of the cost of every row through every head.

        Shape: s, t (B, D); heads (H',) or None (all H) -> Generated (≤B, 1, D)
        """
        assert self.generator is not None
        if len(s) == 0:
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
        """L = L_task + α·L_adv + β·L_dis (Eq. 5) + γ·L_corr (TAL) [+ w·L_st (OSAN+)].

        One dropout-free target forward serves every loss and the pseudo-labels."""
        loss_cfg = self.cfg.loss
        h_s = self.encoder(src, "source")  # {m: (B, E_m)}
        with no_dropout(self.encoder):
            h_t = self.encoder(tgt, "target")  # {m: (B, E_m)}
        f_s, a_s = self.represent(h_s, "source")  # (B, D), (B, D_a)
        f_t, a_t = self.represent(h_t, "target")  # (B, D), (B, D_a)
        pred_s = self.head(f_s)
        terms = {"task": self.task_loss(pred_s, src.label)}  # L_task
        weights = {"adv": loss_cfg.alpha, "dis": loss_cfg.beta, "corr": self.cfg.tal.corr_weight}

        # Target predictions (no dropout, no gradient): pseudo-label pairing, CDAN, OSAN+.
        needs_pairs = self.tal is not None or self.generator is not None
        pred_t = None
        if (
            (needs_pairs and self.cfg.tal.pairing == "pseudo_label")
            or loss_cfg.self_train > 0
            or self.condition is not None
        ):
            with no_dropout(self.head):
                pred_t = self.head(f_t).detach()
        pair = self.pair(h_s, h_t, pred_t, src.label) if needs_pairs else None

        tal_rows = None  # TAL: the correlation term and the rows of the closed-form update
        if self.tal is not None:
            h_sp = select_rows(h_s, pair)
            if self.cfg.tal.corr_weight > 0:
                terms["corr"] = self.tal.correlation_loss(h_sp, h_t)  # L_corr
            tal_rows = (
                {m: x.detach() for m, x in h_sp.items()},
                {m: x.detach() for m, x in h_t.items()},
            )

        if self.discriminator is not None:  # L_adv, with DDG's generated domains
            if pair is None:
                pair = torch.arange(len(f_t))
            d_s, d_t = a_s, a_t
            if self.condition is not None:  # CDAN: align features jointly with predictions
                bins = loss_cfg.condition_bins
                d_s = self.condition(a_s, prediction_condition(pred_s, self.task, bins))
                d_t = self.condition(a_t, prediction_condition(pred_t, self.task, bins))
            terms["adv"] = self.adversarial_loss(d_s, d_t, pair, progress)

        if loss_cfg.dis:  # L_dis (MK-MMD by default) on what L_adv aligns
            terms["dis"] = discrepancy(loss_cfg.dis_kind, a_s, a_t, self.cfg)

        if loss_cfg.self_train > 0:  # OSAN+: a dropped view learns the clean prediction
            terms["st"] = self.consistency(tgt, "target", pred_t)
            if loss_cfg.st_source:
                terms["st"] = (terms["st"] + self.consistency(src, "source", None)) / 2
            ramp = min(1.0, progress / loss_cfg.st_warmup) if loss_cfg.st_warmup > 0 else 1.0
            weights["st"] = loss_cfg.self_train * ramp

        out = combine(terms, weights)
        out.tal_rows = tal_rows
        if self.tal is not None:
            out.logs["tal_gate"] = float(self.tal_gate.detach())
        return out

    def on_step_end(self, out: StepOutput, gather: Gather = own_rows) -> None:
        """TAL's closed-form alternating-projection update (Eq. 2) on this step's pairs
        (``out.tal_rows``, the detached embeddings ``training_step`` returned).

        Runs after the optimiser step so that the projections used in the backward pass
        are not modified in place. ``gather`` maps the rows of this process to the rows the
        update's statistics are computed on (under DDP, every rank's: the loop passes it). The
        gradient solver runs it for its first ``tal.cca_init_steps`` steps (its initialisation),
        the closed-form solver every step."""
        self.steps_done += 1
        if self.tal is not None and out.tal_rows is not None:
            step = int(self.steps_done)
            if self.cfg.tal.solver != "gradient" or step <= self.cfg.tal.cca_init_steps:
                h_s, h_t = out.tal_rows
                self.tal.update(
                    {m: gather(x) for m, x in h_s.items()}, {m: gather(x) for m, x in h_t.items()}
                )

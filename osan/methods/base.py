"""The method interface every algorithm implements, and the shared building blocks.

A method is an ``nn.Module`` with one ``training_step(src, tgt, progress) -> StepOutput``.
The one training loop (``osan.train.trainer``) calls it; nothing else differs between methods.
Two-stage methods list named ``phases``; the loop switches between them by epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from osan.config import Config
from osan.nn.encoders import MLPHead, MultimodalEncoder
from osan.types import Batch, StepOutput

DOMAINS = ("source", "target")

#: Maps this process's rows of a tensor to the rows an update is computed on (dim 0).
Gather = Callable[[Tensor], Tensor]


def own_rows(x: Tensor) -> Tensor:
    """The default :data:`Gather`: this process's rows, unchanged (no data parallelism)."""
    return x


@dataclass(frozen=True)
class Phase:
    """A named stage of training that lasts ``fraction`` of the epochs."""

    name: str
    fraction: float = 1.0


def modality_dims(cfg_dims: dict[str, int], default: int, modalities: list[str]) -> dict[str, int]:
    """Per-modality sizes from a config map, with a default for unnamed modalities."""
    return {m: int(cfg_dims.get(m, default)) for m in modalities}


def concat_fusion(h: dict[str, Tensor]) -> Tensor:
    """Late fusion by concatenation (the "w/o TAL" representation).

    Shape: {m: (B, E_m)} -> (B, Σ E_m)
    """
    return torch.cat([h[m] for m in h], dim=-1)


class Method(nn.Module):
    """Base class: encoders per modality → fusion → task head.

    Subclasses set ``name`` and implement :meth:`training_step`. ``uses_target_labels`` is
    ``False`` for every UDA method: the trainer then serves the target stream without labels.
    """

    name: str = "base"
    uses_target_labels: bool = False
    phases: tuple[Phase, ...] = (Phase("main", 1.0),)
    # Untied per-domain input projections are part of some methods' definition (ADDA).
    share_input_projection: bool = True
    # Checkpoint selection reads this domain's validation labels: always "source" for UDA.
    selection_domain: str = "source"

    def __init__(self, cfg: Config, dims: dict[str, dict[str, int]], num_outputs: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.task = cfg.task
        self.num_outputs = num_outputs
        self.modalities = list(dims["source"])
        enc_dims = modality_dims(cfg.encoder.out_dims, cfg.encoder.default_out_dim, self.modalities)
        self.encoder = MultimodalEncoder(
            dims,
            enc_dims,
            hidden=cfg.encoder.hidden,
            kind=cfg.encoder.kind,
            dropout=cfg.encoder.dropout,
            share_input_proj=cfg.encoder.share_input_proj and self.share_input_projection,
            input_norm=cfg.encoder.input_norm,
        )
        self.embed_dims = enc_dims
        self.phase = self.phases[0].name
        self.rng = torch.Generator().manual_seed(cfg.seed + 7919)

    # -- representation -------------------------------------------------------------------
    @property
    def feature_dim(self) -> int:
        return sum(self.embed_dims.values())

    def fuse(self, h: dict[str, Tensor], domain: str) -> Tensor:
        """Fused representation of modality embeddings; ``(B, feature_dim)``."""
        return concat_fusion(h)

    def features(self, batch: Batch, domain: str) -> Tensor:
        """The shared representation that heads, discriminators and analyses read."""
        return self.fuse(self.encoder(batch, domain), domain)

    def make_head(self, in_dim: int, norm: bool = True) -> MLPHead:
        return MLPHead(in_dim, self.cfg.optim.head_hidden, self.num_outputs, norm=norm)

    def predict(self, batch: Batch, domain: str) -> Tensor:
        """(B,) regression values or (B, K) class logits."""
        return self.head(self.features(batch, domain))

    # -- losses ---------------------------------------------------------------------------
    def task_loss(self, pred: Tensor, label: Tensor) -> Tensor:
        """L_task: L1 / MSE for sentiment regression, cross-entropy for classes."""
        kind = self.cfg.loss.task_loss
        if kind == "ce":
            return F.cross_entropy(pred, label.long())
        label = label.to(pred.dtype)
        return F.l1_loss(pred, label) if kind == "l1" else F.mse_loss(pred, label)

    def training_step(self, src: Batch, tgt: Batch, progress: float) -> StepOutput:
        raise NotImplementedError

    def on_step_end(self, out: StepOutput, gather: Gather = own_rows) -> None:
        """Called by the loop after ``optimizer.step()`` with the step's output (e.g. TAL's
        closed-form update on ``out.tal_rows``).

        ``gather`` turns this process's rows into the rows a batch-statistics update reads:
        the identity in one process, the all-gather of every rank's rows under DDP
        (``osan.train.distributed.DistContext.gather_rows``, passed by the loop)."""

    def set_phase(self, name: str) -> None:
        if name not in {p.name for p in self.phases}:
            raise ValueError(f"{self.name} has no phase {name!r}")
        self.phase = name

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters the optimiser updates in the current phase."""
        return [p for p in self.parameters() if p.requires_grad]

    # -- state ----------------------------------------------------------------------------
    def get_extra_state(self) -> dict:
        return {"rng": self.rng.get_state(), "phase": self.phase}

    def set_extra_state(self, state: dict) -> None:
        self.rng.set_state(state["rng"])
        self.phase = state["phase"]


def combine(terms: dict[str, Tensor], weights: dict[str, float]) -> StepOutput:
    """Σ_k w_k · L_k with every term logged (weights default to 1)."""
    total = sum(weights.get(k, 1.0) * v for k, v in terms.items())
    logs = {k: float(v.detach()) for k, v in terms.items()}
    logs["total"] = float(total.detach())
    return StepOutput(loss=total, logs=logs)


class FeatureAligner(Method):
    """The Direct-Transfer model (encoders → concatenation → head) plus alignment terms on the
    fused features ``f`` the head reads, in one stage:

        L = L_task(h(f_s), y_s) + Σ_k w_k · L_k(f_s, f_t)

    DAN, Deep CORAL, RSD, DARE-GRAM and MCC differ only in :meth:`alignment_terms`.
    """

    def __init__(self, cfg: Config, dims: dict[str, dict[str, int]], num_outputs: int) -> None:
        super().__init__(cfg, dims, num_outputs)
        self.head = self.make_head(self.feature_dim)

    def alignment_terms(
        self, f_s: Tensor, f_t: Tensor
    ) -> tuple[dict[str, Tensor], dict[str, float]]:
        """The method's terms L_k and their weights w_k. Shape: f_s, f_t (B, D)"""
        raise NotImplementedError(f"{type(self).__name__} defines no alignment terms")

    def training_step(self, src: Batch, tgt: Batch, progress: float) -> StepOutput:
        f_s = self.features(src, "source")  # (B, D)
        f_t = self.features(tgt, "target")  # (B, D)
        terms = {"task": self.task_loss(self.head(f_s), src.label)}
        extra, weights = self.alignment_terms(f_s, f_t)
        return combine({**terms, **extra}, weights)

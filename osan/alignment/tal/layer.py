"""The TAL layer: its state (U, V, running statistics) and its options, in one ``nn.Module``.

What it computes lives beside it: ``fusion`` (Eq. (1): ``project``, ``correlation_loss``),
``statistics`` (Eq. (2) over time: ``update``, ``mode_covariances``), ``cca`` (the float64
solver both rely on).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from osan.alignment.tal.cca import ORIENTS
from osan.alignment.tal.fusion import DOMAINS, NORMALIZATIONS, Fusion, check_domain
from osan.alignment.tal.statistics import Statistics
from osan.config import TALConfig

SOLVERS: tuple[str, ...] = ("closed_form", "gradient")
_DEFAULTS = TALConfig()  # the constructor's defaults are the config's: one production variant


class TensorAlignment(Fusion, Statistics, nn.Module):
    """Tensor-based alignment layer, Eq. (1)-(3) of the paper (§3.1); maths in the package doc.

    ``project`` maps a domain's embeddings through its current U (source) or V (target) to the
    flattened projected tensor; ``correlation_loss`` is the differentiable correlation objective
    that trains the encoders; ``update`` runs the closed-form alternating-projection step of
    Eq. (2) on paired batches (no gradient). Defaults: those of ``TALConfig`` (``osan.config``),
    so ``TensorAlignment(dims, dims, out)`` is the variant OSAN trains with.

    Args:
        source_dims: I_n per modality, e.g. ``{"text": 512, "vision": 32, "audio": 32}``.
        target_dims: J_n per modality (same names; dims may differ from the source's).
        out_dims: D_n per modality; its key order is the mode order of the tensor.
        eps: ridge, relative: ρ = eps·tr(C)/I_n (+1e-12).
        sweeps: alternating-projection sweeps over all modes per ``update``.
        momentum: EMA weight of the old running statistics (ramped in, see
            ``osan.alignment.tal.statistics``); ``None``: per-batch statistics.
        append_one: append a constant 1 to each projected mode vector (TFN) in ``project``.
        orient: ``"rotate"`` applies the orthogonal R (same for U and V, which leaves Eq. (2)
            unchanged) that keeps the directions closest to the previous step's; ``"sign"``
            keeps canonical directions (sorted by correlation, sign-matched).
        normalize: ``"standardize"`` | ``"layer"`` | ``"orthonormal"`` | ``"none"``: see
            ``osan.alignment.tal.fusion``.
        solver: ``"gradient"``: U, V are ``nn.Parameter``s (float32) trained by back-propagation
            (``update`` may still set them, e.g. as the initialisation); ``"closed_form"``:
            float64 buffers, set only by ``update``.
        tie: one projection (V = U) for every modality whose source and target dims agree; no
            V is allocated for it.

    Shape:
        h[m]: (B, I_m) source or (B, J_m) target embeddings
        project(h, domain): (B, out_dim), out_dim = Π D_n, or Π (D_n + 1) with ``append_one``
    """

    def __init__(
        self,
        source_dims: Mapping[str, int],
        target_dims: Mapping[str, int],
        out_dims: Mapping[str, int],
        *,
        eps: float = _DEFAULTS.eps,
        sweeps: int = _DEFAULTS.sweeps,
        momentum: float | None = _DEFAULTS.momentum,
        append_one: bool = _DEFAULTS.append_one,
        orient: str = "rotate",  # the production choice; "sign": the reference's convention
        normalize: str = _DEFAULTS.normalize,
        solver: str = _DEFAULTS.solver,
        tie: bool = True,  # the production choice; False: the reference's convention
    ) -> None:
        super().__init__()
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
        if orient not in ORIENTS:
            raise ValueError(f"orient must be one of {ORIENTS}, got {orient!r}")
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
        self.solver = solver
        self.orient = orient
        self.normalize = normalize
        self.tie = bool(tie)
        self.modalities: tuple[str, ...] = tuple(out_dims)
        if not self.modalities:
            raise ValueError("TensorAlignment needs at least one modality in out_dims")
        if set(source_dims) != set(self.modalities) or set(target_dims) != set(self.modalities):
            raise ValueError(
                f"modalities differ: source {sorted(source_dims)}, target {sorted(target_dims)}, "
                f"out {sorted(out_dims)}"
            )
        for m in self.modalities:
            if not m.isidentifier():
                raise ValueError(f"modality name {m!r} must be a Python identifier")
            d, i, j = int(out_dims[m]), int(source_dims[m]), int(target_dims[m])
            if d < 1 or d > i or d > j:
                raise ValueError(
                    f"TAL out dim of {m!r} must satisfy 1 <= D <= I and D <= J; "
                    f"got D={d}, source I={i}, target J={j}"
                )
        if eps <= 0:
            raise ValueError(f"eps must be positive, got {eps}")
        if sweeps < 1:
            raise ValueError(f"sweeps must be >= 1, got {sweeps}")
        if momentum is not None and not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1) or None, got {momentum}")
        self.source_dims = {m: int(source_dims[m]) for m in self.modalities}
        self.target_dims = {m: int(target_dims[m]) for m in self.modalities}
        self.out_dims = {m: int(out_dims[m]) for m in self.modalities}
        self.eps = float(eps)
        self.sweeps = int(sweeps)
        self.momentum = momentum
        self.append_one = bool(append_one)
        #: Modes with one projection for both domains (``tie`` and I_n = J_n).
        self.tied_modes: frozenset[str] = frozenset(
            m for m in self.modalities if self.tie and self.source_dims[m] == self.target_dims[m]
        )

        f64 = torch.float64
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))
        for m in self.modalities:
            i, j, d = self.source_dims[m], self.target_dims[m], self.out_dims[m]
            # Untrained TAL: the first D_n coordinates (identity columns), a fixed projection.
            sides = [("U", i)] if m in self.tied_modes else [("U", i), ("V", j)]
            for side, rows in sides:
                if solver == "closed_form":
                    self.register_buffer(f"{side}_{m}", torch.eye(rows, d, dtype=f64))  # (I, D)
                else:
                    self.register_parameter(f"{side}_{m}", nn.Parameter(torch.eye(rows, d)))
            self.register_buffer(f"mean_source_{m}", torch.zeros(i, dtype=f64))  # (I,)
            self.register_buffer(f"mean_target_{m}", torch.zeros(j, dtype=f64))  # (J,)
            if normalize == "standardize":
                for dom in DOMAINS:
                    self.register_buffer(f"out_mean_{dom}_{m}", torch.zeros(d))  # (D,)
                    self.register_buffer(f"out_var_{dom}_{m}", torch.ones(d))  # (D,)
            if momentum is not None:
                self.register_buffer(f"cov_xx_{m}", torch.zeros(i, i, dtype=f64))  # (I, I)
                self.register_buffer(f"cov_yy_{m}", torch.zeros(j, j, dtype=f64))  # (J, J)
                self.register_buffer(f"cov_xy_{m}", torch.zeros(i, j, dtype=f64))  # (I, J)

    @property
    def out_dim(self) -> int:
        extra = 1 if self.append_one else 0
        size = 1
        for d in self.out_dims.values():
            size *= d + extra
        return size

    def projection(self, modality: str, domain: str) -> Tensor:
        """U^(n) (source) or V^(n) (target); U^(n) for both domains in a tied mode.

        float64 buffers for the closed-form solver, float32 parameters for ``"gradient"``.
        Shape: (I_n, D_n) or (J_n, D_n)"""
        target = check_domain(domain) == "target" and modality not in self.tied_modes
        return getattr(self, f"{'V' if target else 'U'}_{modality}")

    def running_mean(self, modality: str, domain: str) -> Tensor:
        """μ of that domain and modality, float64. Shape: (I_n,) or (J_n,)"""
        return getattr(self, f"mean_{check_domain(domain)}_{modality}")

    def extra_repr(self) -> str:
        dims = ", ".join(
            f"{m}: {self.source_dims[m]}/{self.target_dims[m]}->{self.out_dims[m]}"
            for m in self.modalities
        )
        return (
            f"{dims}, solver={self.solver}, normalize={self.normalize}, orient={self.orient}, "
            f"tie={self.tie}, eps={self.eps}, sweeps={self.sweeps}, momentum={self.momentum}, "
            f"append_one={self.append_one}"
        )

"""TAL's fusion, Eq. (1): per-mode projection, normalisation, outer product.

The projected tensor of Eq. (1), X ×_1 U^(1)ᵀ ... ×_N U^(N)ᵀ, of a rank-one sample tensor
X_b = x_b^(1) ∘ ... ∘ x_b^(N) is the outer product of the per-mode projections U^(n)ᵀ x_b^(n), so
it is computed per mode and never materialised at full size. Source rows go through U, target
rows through V (with ``tie``, the target uses U where the dims agree); x^(n) = h^(n) − μ^(n) is
centred with that domain's running mean (``osan.alignment.tal.statistics``).

The output (``project``) is the flattened [U^(1)ᵀx^(1); 1] ∘ ... ∘ [U^(N)ᵀx^(N); 1] (TFN-style
ones keep the unimodal and bimodal terms; ``append_one=False`` gives exactly the paper's Π D_n
projected tensor). U and V are fitted on the tensor without the ones.

Normalisation (``normalize``, one choice; measured in docs/results.md):
- ``"standardize"`` (default): each projected coordinate standardised per domain, with the
  batch's mean and variance in training and running estimates in eval: Eq. (1)'s unit-variance
  constraint, enforced on the current batch rather than by whitening.
- ``"layer"``: the flattened tensor layer-normalised per sample.
- ``"orthonormal"``: project with an orthonormal basis of each U/V's span (no amplification of
  low-variance directions; an ablation of the closed-form solver).
- ``"none"``: the whitened projections as Eq. (2) returns them.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

DOMAINS: tuple[str, ...] = ("source", "target")
NORMALIZATIONS: tuple[str, ...] = ("standardize", "layer", "orthonormal", "none")
_NORM_EPS = 1e-8  # denominators of the correlation loss
_STD_EPS = 1e-5  # added to the variance by "standardize"
_STD_MOMENTUM = 0.1  # weight of the batch in the running estimates of "standardize"


def check_domain(domain: str) -> str:
    if domain not in DOMAINS:
        raise ValueError(f"domain must be 'source' or 'target', got {domain!r}")
    return domain


def outer_flatten(factors: list[Tensor], batch: int | None = None) -> Tensor:
    """Flattened per-sample outer product ``f_1 ∘ f_2 ∘ ...``, first factor slowest (C order).

    An empty list gives the scalar 1 per sample (needs ``batch``).

    Shape:
        factors[k]: (B, d_k)
        output: (B, Π_k d_k)
    """
    if not factors:
        if batch is None:
            raise ValueError("outer_flatten of no factors needs the batch size")
        return torch.ones(batch, 1, dtype=torch.float64)  # (B, 1)
    out = factors[0]
    for f in factors[1:]:
        out = torch.einsum("bp,bq->bpq", out, f).reshape(out.shape[0], -1)  # (B, P·d_k)
    return out


def orthonormal_basis(proj: Tensor) -> Tensor:
    """An orthonormal basis of the span of ``proj``'s columns, column signs kept by QR's R.

    Shape: (I, D) -> (I, D)"""
    q, r = torch.linalg.qr(proj)  # (I, D), (D, D)
    return q * torch.sign(torch.diagonal(r)).where(torch.diagonal(r) != 0, 1.0)


class Fusion:
    """Eq. (1) and its correlation objective; a part of :class:`TensorAlignment`.

    Reads from the layer: ``modalities``, ``source_dims``, ``target_dims``, ``append_one``,
    ``normalize``, ``training``, ``projection(m, domain)``, ``running_mean(m, domain)`` and, with
    ``normalize="standardize"``, the buffers ``out_mean_<domain>_<m>``, ``out_var_<domain>_<m>``.
    """

    def project_modes(self, h: Mapping[str, Tensor], domain: str) -> dict[str, Tensor]:
        """Per-mode projections U^(n)ᵀ(h^(n) − μ^(n)), differentiable w.r.t. h (and w.r.t. U, V
        with the gradient solver; μ is constant).

        Shape:
            h[m]: (B, I_m)  ->  {m: (B, D_m)}, in h's dtype
        """
        dims = self.source_dims if check_domain(domain) == "source" else self.target_dims
        out = {}
        for m in self.modalities:
            x = h[m]
            if x.dim() != 2 or x.shape[1] != dims[m]:
                raise ValueError(f"{domain} {m!r}: expected (B, {dims[m]}), got {tuple(x.shape)}")
            mu = self.running_mean(m, domain).to(x.dtype)  # (I,)
            proj = self.projection(m, domain)  # (I, D)
            if self.normalize == "orthonormal":
                proj = orthonormal_basis(proj)  # (I, D)
            out[m] = (x - mu) @ proj.to(x.dtype)  # (B, D_m)
        return out

    def normalized_modes(self, h: Mapping[str, Tensor], domain: str) -> dict[str, Tensor]:
        """The per-mode factors of ``project`` before the ones: ``project_modes``, standardised
        per domain with ``normalize="standardize"`` (updates the running estimates in training).

        Shape:
            h[m]: (B, I_m)  ->  {m: (B, D_m)}
        """
        p = self.project_modes(h, domain)  # {m: (B, D_m)}
        if self.normalize == "standardize":
            p = {m: self._standardize(f, m, domain) for m, f in p.items()}  # {m: (B, D_m)}
        return p

    def project(self, h: Mapping[str, Tensor], domain: str) -> Tensor:
        """The projected tensor of Eq. (1), flattened: [U^(1)ᵀx^(1); 1] ∘ ... ∘ [U^(N)ᵀx^(N); 1].

        x^(n) = h^(n) − μ^(n) with that domain's running mean; source through U, target through
        V; the ones only with ``append_one``; normalised as ``normalize`` says. Differentiable
        w.r.t. h.

        Shape:
            h[m]: (B, I_m) (source) or (B, J_m) (target)
            output: (B, out_dim), modes in ``out_dims`` order, first mode slowest
        """
        p = self.normalized_modes(h, domain)  # {m: (B, D_m)}
        factors = []
        for m in self.modalities:
            f = p[m]
            if self.append_one:
                f = torch.cat([f, f.new_ones(f.shape[0], 1)], dim=1)  # (B, D_m + 1)
            factors.append(f)
        out = outer_flatten(factors)  # (B, out_dim)
        if self.normalize == "layer":  # per sample: zero mean, unit variance over out_dim entries
            out = nn.functional.layer_norm(out, out.shape[1:])
        return out

    def _standardize(self, f: Tensor, m: str, domain: str) -> Tensor:
        """Eq. (1)'s constraint (unit-variance projected coordinates) on the current batch.

        In training each projected coordinate is standardised with the batch's own mean and
        (biased) variance, and the running estimates move towards them (weight 0.1, as
        BatchNorm's); in eval, with the running estimates. The closed-form U/V are fitted on
        lagging running covariances while the encoders move, so without this the projected
        coordinates drift far from unit variance.

        Shape: f (B, D_m) -> (B, D_m)
        """
        mean_buf = getattr(self, f"out_mean_{domain}_{m}")  # (D_m,)
        var_buf = getattr(self, f"out_var_{domain}_{m}")  # (D_m,)
        if self.training and f.shape[0] > 1:
            mean = f.mean(0)  # (D_m,)
            var = f.var(0, unbiased=False)  # (D_m,)
            with torch.no_grad():
                mean_buf.lerp_(mean.detach().to(mean_buf.dtype), _STD_MOMENTUM)
                var_buf.lerp_(var.detach().to(var_buf.dtype), _STD_MOMENTUM)
        else:
            mean, var = mean_buf.to(f.dtype), var_buf.to(f.dtype)
        return (f - mean) / torch.sqrt(var + _STD_EPS)

    def correlation_loss(self, h_s: Mapping[str, Tensor], h_t: Mapping[str, Tensor]) -> Tensor:
        """Minus the mean correlation of paired projected outputs: the objective of Eq. (1)
        as a loss for the encoders (and for U, V with the gradient solver; μ held constant).

        With o_s = X_b ×_n U^(n)ᵀ and o_t = Y_b ×_n V^(n)ᵀ flattened (Π D_n dims, no ones: the
        constant terms have no variance), each output dim d is centred over the batch and

            loss = −(1/Π D_n) Σ_d ⟨ō_s[:, d], ō_t[:, d]⟩ / (‖ō_s[:, d]‖ ‖ō_t[:, d]‖ + 1e-8)

        Shape:
            h_s[m]: (B, I_m), h_t[m]: (B, J_m), rows paired
            output: () scalar in [−1, 1]
        """
        ps = self.project_modes(h_s, "source")  # {m: (B, D_m)}
        pt = self.project_modes(h_t, "target")  # {m: (B, D_m)}
        if next(iter(ps.values())).shape[0] != next(iter(pt.values())).shape[0]:
            raise ValueError("correlation_loss needs paired rows (same batch size)")
        o_s = outer_flatten([ps[m] for m in self.modalities])  # (B, Π D)
        o_t = outer_flatten([pt[m] for m in self.modalities])  # (B, Π D)
        o_s = o_s - o_s.mean(0)  # (B, Π D)
        o_t = o_t - o_t.mean(0)  # (B, Π D)
        corr = (o_s * o_t).sum(0) / (o_s.norm(dim=0) * o_t.norm(dim=0) + _NORM_EPS)  # (Π D,)
        return -corr.mean()

"""SSA, Significant-subspace Alignment (Adachi et al., "Test-time Adaptation for Regression
by Subspace Alignment", ICLR 2025).

The target features z (what the regressor's last linear layer w reads) are projected onto the
top-k principal directions v_d of the SOURCE features (stored at training time,
:mod:`osan.testtime.stats`); along each direction the batch's mean and variance are matched to
the source's (mean 0, variance σ²_{s,d}) with the symmetric KL divergence between 1-D Gaussians,
each direction weighted by how much it drives the regressor:

    p_{b,d} = (z_b − μ_s)ᵀ v_d,   μ_{t,d} = mean_b p_{b,d},   σ²_{t,d} = var_b p_{b,d} (unbiased)
    KL(N(m1, v1) ‖ N(m2, v2)) = ½ [log v2 − log v1 + (v1 + (m1 − m2)²) / v2 − 1]
    α_d = ‖W v_d‖ + b                     (W: the head's last layer, (O, H); b = 1)
    L_SSA = Σ_d α_d [KL(N(μ_{t,d}, σ²_{t,d}) ‖ N(0, σ²_{s,d}))
                     + KL(N(0, σ²_{s,d}) ‖ N(μ_{t,d}, σ²_{t,d}))]

Only normalisation affines are updated (:func:`osan.testtime.norms.norm_affines`).
"""

from __future__ import annotations

import torch
from torch import Tensor

#: Added to every variance (the reference code's ``eps``).
EPS = 1e-8


def gaussian_kl(m1: Tensor, v1: Tensor, m2: Tensor, v2: Tensor) -> Tensor:
    """KL(N(m1, v1) ‖ N(m2, v2)) of 1-D Gaussians, elementwise (v: variances).

    Shape: all (k,) -> (k,)
    """
    return 0.5 * (torch.log(v2) - torch.log(v1) + (v1 + (m1 - m2).square()) / v2 - 1.0)


def direction_weights(head_weight: Tensor, basis: Tensor, bias: float = 1.0) -> Tensor:
    """α_d = ‖W v_d‖₂ + b (for one output, |w · v_d| + b).

    Shape: head_weight (O, H), basis (H, k) -> (k,)
    """
    return (head_weight @ basis).norm(dim=0) + bias  # (O, k) -> (k,)


def ssa_loss(z: Tensor, mean: Tensor, basis: Tensor, var: Tensor, weight: Tensor) -> Tensor:
    """L_SSA of a target batch (see the module docstring).

    Shape: z (B, H), mean (H,), basis (H, k), var (k,), weight (k,) -> ()
    """
    p = (z - mean) @ basis  # (B, k)
    m_t = p.mean(0)  # (k,)
    v_t = p.var(0) + EPS  # (k,)
    zero = torch.zeros_like(m_t)
    v_s = var + EPS
    kl = gaussian_kl(m_t, v_t, zero, v_s) + gaussian_kl(zero, v_s, m_t, v_t)  # (k,)
    return (weight * kl).sum()

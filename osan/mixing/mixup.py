"""Plain Mixup between domains: the OSAN(TAL+Mixup) ablation of DDG (paper §3.2, Tables 1–2).

Mixup (Zhang et al., ICLR 2018) linearly interpolates a source and a target sample,

    m = λ·s + (1 − λ)·t,    domain label of m = 1 − λ  (probability of "target"),

so the generated sample carries the full information of both domains, which is exactly what DDG's
commonality gate c = t ⊙ Norm(p) avoids (DDG uses c in place of t).
"""

from __future__ import annotations

import torch
from scipy.special import betaincinv
from torch import Tensor, nn

from osan.mixing.ddg import Generated, deal_rows

__all__ = ["MixupGenerator", "mixup"]


def mixup(s: Tensor, t: Tensor, lam: float | Tensor) -> tuple[Tensor, Tensor]:
    """Mixed samples m = lam·s + (1 − lam)·t and their soft target-domain labels 1 − lam.

    Shape:
        s, t: (B, D) (or any equal shape)
        lam: a float, or a tensor broadcastable to ``s`` (e.g. (B, 1) for one λ per sample)
        output: m with the shape of ``s``; label with the shape of ``lam`` (() for a float)
    """
    if s.shape != t.shape:
        raise ValueError(f"s and t differ in shape: {tuple(s.shape)} vs {tuple(t.shape)}")
    lam_t = torch.as_tensor(lam, dtype=s.dtype, device=s.device)
    if not torch.all((lam_t >= 0) & (lam_t <= 1)):
        raise ValueError("lam must lie in [0, 1]")
    return lam_t * s + (1.0 - lam_t) * t, 1.0 - lam_t


class MixupGenerator(nn.Module):
    """Drop-in replacement of :class:`~osan.mixing.ddg.DynamicDomainGenerator` that mixes the
    full samples: per head h (= generated domain) one coefficient λ_h per step,

        s'^h = λ_h·s + (1 − λ_h)·t   (label 1 − λ_h),    t'^h = λ_h·t + (1 − λ_h)·s   (label λ_h).

    λ_h ~ Beta(alpha, alpha), drawn afresh at every call (by inverse-CDF sampling from
    ``torch.rand``, so a ``torch.Generator`` makes it deterministic), or fixed to ``lam`` for every
    head when ``lam`` is given (e.g. DDG's λ, for a like-for-like ablation). It has no parameters.

    Args:
        heads: number of heads H (generated domains).
        alpha: Beta(alpha, alpha) concentration (1.0 = uniform λ).
        lam: fixed λ for all heads; overrides ``alpha``.

    Shape:
        s, t: (B, D); heads: (H',) int64 head indices or None (= all H); only their number
        matters, the heads of Mixup are exchangeable
        output: :class:`Generated` with source/target (B, H', D) and labels (H',)
    """

    def __init__(self, heads: int = 64, alpha: float = 1.0, lam: float | None = None) -> None:
        super().__init__()
        if heads < 1:
            raise ValueError(f"heads must be >= 1, got {heads}")
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        if lam is not None and not 0.0 <= lam <= 1.0:
            raise ValueError(f"lam must be in [0, 1], got {lam}")
        self.num_heads, self.alpha, self.lam = heads, float(alpha), lam

    def extra_repr(self) -> str:
        return f"heads={self.num_heads}, alpha={self.alpha}, lam={self.lam}"

    def sample_lam(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n mixing coefficients (float64, CPU): ``lam`` repeated, or Beta(alpha, alpha) draws."""
        if self.lam is not None:
            return torch.full((n,), float(self.lam), dtype=torch.float64)
        device = generator.device if generator is not None else "cpu"
        u = torch.rand(n, generator=generator, dtype=torch.float64, device=device).cpu()
        return torch.from_numpy(betaincinv(self.alpha, self.alpha, u.numpy()))  # (n,)

    def _check(self, s: Tensor, t: Tensor, heads: Tensor | None) -> None:
        if s.dim() != 2 or s.shape != t.shape:
            raise ValueError(f"s and t must both be (B, D), got {tuple(s.shape)}, {tuple(t.shape)}")
        if heads is not None:
            if heads.dim() != 1 or heads.numel() == 0:
                raise ValueError("heads must be a non-empty 1-D tensor of head indices")
            if int(heads.min()) < 0 or int(heads.max()) >= self.num_heads:
                raise ValueError(f"head indices must lie in [0, {self.num_heads})")

    def forward(
        self,
        s: Tensor,
        t: Tensor,
        heads: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> Generated:
        self._check(s, t, heads)
        n = self.num_heads if heads is None else heads.numel()
        lam = self.sample_lam(n, generator).to(device=s.device, dtype=s.dtype)  # (H',)
        lam_b = lam.view(1, n, 1)  # broadcast over (B, H', D)
        s_gen = lam_b * s.unsqueeze(1) + (1.0 - lam_b) * t.unsqueeze(1)  # (B, H', D)
        t_gen = lam_b * t.unsqueeze(1) + (1.0 - lam_b) * s.unsqueeze(1)  # (B, H', D)
        return Generated(
            source=s_gen, target=t_gen, source_domain_label=1.0 - lam, target_domain_label=lam
        )

    def forward_split(
        self, s: Tensor, t: Tensor, heads: Tensor, *, generator: torch.Generator | None = None
    ) -> Generated:
        """Mixup with the batch dealt out over the heads, like
        :meth:`DynamicDomainGenerator.forward_split`: row i is mixed with head ``i mod H'``'s
        coefficient only. Uses the first n·H' rows, n = B // H' (H' cut to B when B < H').

        Shape: s, t (B, D); heads (H',) -> source/target (n·H', 1, D), labels (n·H', 1)
        """
        self._check(s, t, heads)
        heads, n = deal_rows(s.shape[0], heads)
        k = heads.numel()
        lam = self.sample_lam(k, generator).to(device=s.device, dtype=s.dtype)  # (k,)
        lam_rows = lam.repeat(n).unsqueeze(1)  # row a·k + j -> λ_j, (n·k, 1)
        s_gen = lam_rows * s[: n * k] + (1.0 - lam_rows) * t[: n * k]  # (n·k, D)
        t_gen = lam_rows * t[: n * k] + (1.0 - lam_rows) * s[: n * k]
        return Generated(
            source=s_gen.unsqueeze(1),
            target=t_gen.unsqueeze(1),
            source_domain_label=1.0 - lam_rows,
            target_domain_label=lam_rows,
        )

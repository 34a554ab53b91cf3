"""Which parameters test-time methods that adapt "normalisation affines only" update."""

from __future__ import annotations

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

#: Normalisation layers whose affine (weight γ, bias β) is adapted: y = γ ⊙ x̂ + β.
NORM_LAYERS: tuple[type[nn.Module], ...] = (nn.LayerNorm, nn.GroupNorm, _BatchNorm)


def norm_affines(module: nn.Module) -> list[nn.Parameter]:
    """γ and β of every normalisation layer of ``module`` (osan's models: the LayerNorm of
    each input projection and of the head); each parameter once."""
    params: dict[int, nn.Parameter] = {}
    for m in module.modules():
        if isinstance(m, NORM_LAYERS):
            for p in (getattr(m, "weight", None), getattr(m, "bias", None)):
                if isinstance(p, nn.Parameter):
                    params[id(p)] = p
    return list(params.values())

"""Domain discriminator D of the adversarial branch (L_adv in Eq. (5), paper §3.3).

An MLP that maps a feature vector to one logit, the log-odds that the sample comes from the
*target* domain (1 = target, 0 = source; generated samples get soft labels in between). Put it
behind :func:`osan.nn.grl.grad_reverse` to train the features against it.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["DomainDiscriminator"]


class DomainDiscriminator(nn.Module):
    """MLP ``in_dim → hidden → … → 1`` with ReLU and dropout after each hidden layer.

    Args:
        in_dim: feature dimension D.
        hidden: width of the hidden layers.
        layers: number of hidden layers (0 gives logistic regression on the features).
        dropout: dropout probability after each hidden activation.

    Shape:
        x: (..., D), e.g. (B, D) or (B, H, D) for H generated domains
        output: (...) one logit per feature vector, e.g. (B,) or (B, H)
    """

    def __init__(self, in_dim: int, hidden: int = 256, layers: int = 2, dropout: float = 0.1):
        super().__init__()
        if in_dim < 1 or hidden < 1 or layers < 0:
            raise ValueError(f"invalid sizes: {in_dim=}, {hidden=}, {layers=}")
        blocks: list[nn.Module] = []
        width = in_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            width = hidden
        blocks.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*blocks)
        self.in_dim = in_dim

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_dim:
            raise ValueError(f"expected last dim {self.in_dim}, got shape {tuple(x.shape)}")
        return self.net(x).squeeze(-1)  # (..., 1) -> (...)

import pytest
import torch

from osan.alignment.adversarial import domain_accuracy, domain_adversarial_loss
from osan.nn.discriminator import DomainDiscriminator


def test_soft_labels_reach_the_loss_and_set_the_minimiser():
    z = torch.tensor([0.4, -1.2, 2.0])
    l0 = domain_adversarial_loss(z, torch.zeros(3))
    l1 = domain_adversarial_loss(z, torch.ones(3))
    l3 = domain_adversarial_loss(z, torch.full((3,), 0.3))
    assert l3 != l0 and l3 != l1
    # minimiser over the logit of the BCE with target 0.3 is logit(0.3)
    grid = torch.linspace(-4, 4, 8001)
    losses = torch.stack([domain_adversarial_loss(g.view(1), torch.tensor([0.3])) for g in grid])
    best = grid[losses.argmin()]
    assert best.item() == pytest.approx(torch.logit(torch.tensor(0.3)).item(), abs=2e-3)


def test_gradient_matches_closed_form():
    z = torch.randn(7, dtype=torch.float64, requires_grad=True)
    y = torch.rand(7, dtype=torch.float64)
    domain_adversarial_loss(z, y).backward()
    assert torch.allclose(z.grad, (torch.sigmoid(z.detach()) - y) / 7)


def test_weighted_mean_and_broadcast_labels():
    z = torch.randn(4, 3)
    y = torch.tensor([0.15, 0.5, 0.85])  # one soft label per generated domain (head)
    full = domain_adversarial_loss(z, y.expand(4, 3))
    assert torch.allclose(domain_adversarial_loss(z, y), full)
    w = torch.tensor([1.0, 0.0, 0.0])
    assert torch.allclose(domain_adversarial_loss(z, y, w), domain_adversarial_loss(z[:, 0], 0.15))
    with pytest.raises(ValueError):
        domain_adversarial_loss(z, torch.tensor([0.1, 1.5, 0.0]))
    with pytest.raises(ValueError):
        domain_adversarial_loss(z, y, torch.zeros(3))


def test_domain_accuracy_hard_targets_only():
    z = torch.tensor([2.0, -1.0, 0.5, -0.3])
    assert domain_accuracy(z, torch.tensor([1.0, 0.0, 0.0, 0.0])) == 0.75
    with pytest.raises(ValueError):
        domain_accuracy(z, torch.full((4,), 0.5))


def test_discriminator_shapes_and_leading_dims():
    torch.manual_seed(0)
    d = DomainDiscriminator(12, hidden=16, layers=2, dropout=0.1).eval()
    x = torch.randn(5, 3, 12)
    out = d(x)
    assert d(x[:, 0]).shape == (5,) and out.shape == (5, 3)
    assert torch.allclose(out[:, 1], d(x[:, 1]))
    assert DomainDiscriminator(12, layers=0)(x).shape == (5, 3)
    with pytest.raises(ValueError):
        d(torch.randn(5, 11))

"""The mean teacher's parameter averages (osan.nn.ema)."""

import pytest
import torch
from torch import nn

from osan.nn.ema import ParameterEMA


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))


def test_update_is_the_running_average_with_the_warm_up_decay():
    m = _model()
    ema = ParameterEMA(m, [n for n, _ in m.named_parameters()], decay=0.9)
    start = m[0].weight.detach().clone()
    expected = start.clone()
    for t in range(30):
        with torch.no_grad():
            m[0].weight.add_(1.0)
        d = min(0.9, 1 - 1 / (t + 1))
        assert ema.current_decay() == pytest.approx(d)
        ema.update(m)
        expected = d * expected + (1 - d) * m[0].weight.detach()
        torch.testing.assert_close(ema.average("0.weight"), expected)
    # late updates use the configured decay: the average lags the weights
    assert ema.current_decay() == 0.9
    assert (m[0].weight - ema.average("0.weight")).min() > 5


def test_swapped_runs_with_the_averages_and_restores_the_weights_exactly():
    m = _model()
    names = [n for n, _ in m.named_parameters()]
    ema = ParameterEMA(m, names, decay=0.5)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(3.0)
    weights = {n: p.detach().clone() for n, p in m.named_parameters()}
    x = torch.randn(5, 3)
    student = m(x).detach()
    reference = _model()(x).detach()  # the weights the averages were taken from
    with ema.swapped(m):
        teacher = m(x).detach()
    torch.testing.assert_close(teacher, reference)
    assert not torch.allclose(teacher, student)
    for n, p in m.named_parameters():
        assert torch.equal(p, weights[n])
    torch.testing.assert_close(m(x).detach(), student)


def test_averages_are_buffers_not_parameters_and_live_in_the_state_dict():
    m = _model()
    holder = nn.Module()
    holder.net = m
    holder.ema = ParameterEMA(holder, ["net.0.weight"], decay=0.9)
    assert len(list(holder.parameters())) == len(list(m.parameters()))
    assert "ema.net__0__weight" in holder.state_dict()


def test_a_decay_outside_zero_one_is_refused():
    with pytest.raises(ValueError, match="decay"):
        ParameterEMA(_model(), [], decay=1.0)

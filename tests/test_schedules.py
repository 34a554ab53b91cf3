import math

import numpy as np
import pytest

from osan.schedules import dann_lr_factor, grl_coeff, linear_warmup_cosine

PS = np.linspace(0.0, 1.0, 51)


def test_grl_coeff_endpoints_and_monotone():
    assert grl_coeff(0.0) == 0.0
    assert grl_coeff(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert grl_coeff(1.0, max_coeff=0.5) == pytest.approx(0.5 * grl_coeff(1.0))
    values = [grl_coeff(p) for p in PS]
    assert (np.diff(values) > 0).all()


def test_dann_lr_factor_endpoints_and_monotone():
    assert dann_lr_factor(0.0) == 1.0
    assert dann_lr_factor(1.0) == pytest.approx(11**-0.75)
    values = [dann_lr_factor(p) for p in PS]
    assert (np.diff(values) < 0).all()


@pytest.mark.parametrize("p", [-0.1, 1.1, float("nan")])
def test_progress_outside_unit_interval_rejected(p):
    with pytest.raises(ValueError):
        grl_coeff(p)
    with pytest.raises(ValueError):
        dann_lr_factor(p)


def test_linear_warmup_cosine():
    total, warmup = 100, 10
    f = [linear_warmup_cosine(s, total, warmup) for s in range(total + 5)]
    assert f[0] == pytest.approx(1 / 11) and f[0] > 0
    assert f[warmup] == 1.0
    assert (np.diff(f[: warmup + 1]) > 0).all()  # rising warm-up
    assert (np.diff(f[warmup : total + 1]) < 0).all()  # decay
    assert f[55] == pytest.approx(0.5)  # half-way through the cosine
    assert f[total] == 0.0 and f[total + 4] == 0.0
    assert linear_warmup_cosine(total, total, warmup, min_factor=0.1) == pytest.approx(0.1)
    assert linear_warmup_cosine(0, total, 0) == 1.0
    with pytest.raises(ValueError):
        linear_warmup_cosine(0, 10, 20)

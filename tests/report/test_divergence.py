"""The JSD estimator on distributions whose JSD is known.

Tolerances: with 1000 rows per domain the cross-fitted cross-entropy has a standard error of
about 0.01 nats (measured spread over seeds < 0.01), so 0.02 for the limits (0 and ln 2) and 0.03
against the exact Gaussian values leave room for that noise but not for a wrong estimator (an
estimator off by a constant or a factor 2 misses them).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from osan.report.divergence import LN2, domain_jsd, gaussian_shift_jsd

N, D = 1000, 8


def gaussians(shift: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mu = np.zeros(D)
    mu[:2] = shift / math.sqrt(2)  # ‖μ‖ = shift, along a direction that is no axis
    return rng.normal(size=(N, D)), rng.normal(size=(N, D)) + mu


def test_exact_reference_values():
    assert gaussian_shift_jsd(0.0) == pytest.approx(0.0, abs=1e-9)
    assert gaussian_shift_jsd(40.0) == pytest.approx(LN2, abs=1e-6)
    values = [gaussian_shift_jsd(d) for d in (0.5, 1.0, 2.0, 3.0)]
    assert values == sorted(values)
    # small shifts: JSD ≈ δ²/8 (a quarter of the KL divergence δ²/2)
    assert gaussian_shift_jsd(0.1) == pytest.approx(0.1**2 / 8, rel=0.02)


@pytest.mark.parametrize("seed", [0, 1])
def test_identical_distributions_give_about_zero(seed):
    a, b = gaussians(0.0, seed)
    assert domain_jsd(a, b, seed=seed) < 0.02


def test_disjoint_distributions_give_about_ln2():
    a, b = gaussians(30.0)
    assert domain_jsd(a, b) == pytest.approx(LN2, abs=0.02)
    assert domain_jsd(a, b) <= LN2


@pytest.mark.parametrize("shift", [1.0, 2.0])
def test_gaussian_shift_matches_the_exact_jsd(shift):
    a, b = gaussians(shift)
    assert domain_jsd(a, b) == pytest.approx(gaussian_shift_jsd(shift), abs=0.03)


def test_symmetric_and_grows_with_the_shift():
    a, b = gaussians(1.5)
    assert domain_jsd(a, b) == pytest.approx(domain_jsd(b, a), abs=0.02)
    est = [domain_jsd(*gaussians(s)) for s in (0.5, 1.5, 3.0)]
    assert est[0] < est[1] < est[2]


def test_bad_shapes_are_errors():
    with pytest.raises(ValueError, match="equal D"):
        domain_jsd(np.zeros((20, 3)), np.zeros((20, 4)))
    with pytest.raises(ValueError, match="at least 5 rows"):
        domain_jsd(np.zeros((3, 2)), np.zeros((20, 2)))

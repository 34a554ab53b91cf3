"""Distribution discrepancy between source and target features: the symmetric Jensen–Shannon
divergence of paper §5.2 (Fig. 7).

Estimator (the classifier, or variational, form). For the source distribution P and the target
distribution Q mixed with equal priors, the posterior of "source" is D*(x) = p(x) / (p(x) + q(x))
and

    JSD(P, Q) = ½ KL(P ‖ M) + ½ KL(Q ‖ M),  M = ½ (P + Q)
              = ln 2 + ½ E_P[ln D*(x)] + ½ E_Q[ln(1 − D*(x))]

(the identity behind the GAN objective, Goodfellow et al. 2014, §4.1). For any other classifier
D the right-hand side is smaller, so

    JSD ≥ ln 2 − BCE_balanced(D)

where BCE_balanced is D's binary cross-entropy with each domain weighted ½. We fit D as an
L2-regularised logistic regression on standardised features reduced by PCA (≤ 32 components)
and score every sample with a model that did not train on it (K-fold cross-fitting), so an
over-fitting classifier can only LOWER the estimate; the result is clipped at 0. Natural
logarithms: 0 (identical distributions) ≤ JSD ≤ ln 2 ≈ 0.693 (disjoint supports).

The bound is tight when the log density ratio ln(p/q) is linear in the (PCA-reduced) features,
e.g. two Gaussians with a shared covariance; a shift that no linear classifier detects is not
counted. It is one consistent yardstick for comparing methods, not an exact value.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

LN2 = math.log(2.0)


def domain_jsd(
    source: np.ndarray,
    target: np.ndarray,
    *,
    folds: int = 5,
    components: int = 32,
    c: float = 1.0,
    seed: int = 0,
    eps: float = 1e-6,
) -> float:
    """Symmetric JSD (nats) between the distributions of ``source`` and ``target`` rows.

    See the module docstring for the estimator: ln 2 minus the cross-fitted, class-balanced
    binary cross-entropy of a logistic domain classifier, clipped to [0, ln 2].

    Shape:
        source: (N_s, D), target: (N_t, D) with N_s, N_t >= ``folds``
        returns a float in [0, ln 2]
    """
    xs = np.asarray(source, dtype=np.float64)
    xt = np.asarray(target, dtype=np.float64)
    if xs.ndim != 2 or xt.ndim != 2 or xs.shape[1] != xt.shape[1]:
        raise ValueError(f"need (N, D) arrays of equal D, got {xs.shape} and {xt.shape}")
    if min(len(xs), len(xt)) < folds:
        raise ValueError(f"need at least {folds} rows per domain, got {len(xs)} and {len(xt)}")
    x = np.concatenate([xs, xt])  # (N_s + N_t, D)
    y = np.concatenate([np.ones(len(xs), np.int64), np.zeros(len(xt), np.int64)])
    p_source = np.empty(len(x))  # cross-fitted D(x) = P(source | x)
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        k = max(1, min(components, x.shape[1], len(train) - 1))
        clf = make_pipeline(
            StandardScaler(),
            PCA(n_components=k, random_state=seed),
            LogisticRegression(C=c, class_weight="balanced", max_iter=5000),
        )
        clf.fit(x[train], y[train])
        p_source[test] = clf.predict_proba(x[test])[:, 1]
    p = np.clip(p_source, eps, 1.0 - eps)
    value = LN2 + 0.5 * np.mean(np.log(p[y == 1])) + 0.5 * np.mean(np.log1p(-p[y == 0]))
    return float(min(max(value, 0.0), LN2))


def gaussian_shift_jsd(delta: float, grid: int = 200_001) -> float:
    """Exact JSD (nats) of N(0, I) and N(μ, I) with ‖μ‖ = ``delta`` (numerical integration
    along μ: the other directions have equal marginals). Reference value for tests."""
    span = 12.0 + abs(delta)
    t = np.linspace(-span, span, grid)
    log_p = -0.5 * t**2 - 0.5 * math.log(2 * math.pi)  # log N(t; 0, 1)
    log_q = -0.5 * (t - delta) ** 2 - 0.5 * math.log(2 * math.pi)  # log N(t; δ, 1)
    log_m = np.logaddexp(log_p, log_q) - LN2
    integrand = np.exp(log_p) * (log_p - log_m) + np.exp(log_q) * (log_q - log_m)
    return float(0.5 * np.trapezoid(integrand, t))

"""Label-free model scores: pure functions of arrays (no model, no data loading, no target label).

The building blocks of the validators of :mod:`osan.eval.selection`, which say what each one
reads. References:

- IWV — Sugiyama, Krauledat, Müller, "Covariate shift adaptation by importance weighted cross
  validation", JMLR 2007: ``R_IWV = 1/n Σ_i w(x_i) ℓ_i`` with ``w = p_t / p_s``.
- DEV — You, Wang, Long, Jordan, "Towards accurate model selection in deep unsupervised domain
  adaptation", ICML 2019 (Algorithm 1): the density ratio comes from a domain classifier on the
  model's features, ``w(x) = (n_s / n_t) · P(t | x) / P(s | x)``, and the control variate
  ``η = −Cov(w·ℓ, w) / Var(w)`` gives ``R_DEV = mean(w·ℓ) + η·mean(w) − η`` (``E_s[w] = 1``).
- SND — Saito, Kim, Teterwak, Sclaroff, Darrell, Saenko, "Tune it the right way: unsupervised
  validation of domain adaptation via soft neighborhood density", ICCV 2021: L2-normalised
  target softmax vectors, similarities scaled by 1/τ (τ = 0.05), self excluded, softmax over
  neighbours, mean entropy of that neighbourhood distribution.
- Entropy / IM — mean prediction entropy (Morerio et al., ICLR 2018 use it for selection) and
  the information-maximisation score of Gomes, Krause, Perona (NeurIPS 2010), used as a
  validator by Musgrave, Belongie, Lim ("Benchmarking validation methods for unsupervised domain
  adaptation", 2022): ``IM = H(mean_i p_i) − mean_i H(p_i)``; it penalises the class collapse
  that plain entropy rewards.

Our interpretations (where the papers leave a choice):

- The domain classifier of IWV / DEV is an L2-regularised logistic regression on the pooled
  source-valid + target-train features, standardised and projected on their top ``max_dim``
  principal components (fitted without any label; density-ratio estimates are unstable in high
  dimension). Its L2 strength is the one of :data:`C_GRID` with the lowest out-of-fold log-loss
  on the domain labels (the ratio needs calibrated probabilities). Each source row's weight
  comes from a classifier that did not see it (``folds``-fold cross-fitting, stratified by
  domain), and the prior ratio is that classifier's training counts. Weights are not clipped or
  normalised (as published); the probabilities are clipped to ``[1e-6, 1 − 1e-6]`` only to keep
  the ratio finite. :func:`effective_sample_size` tells when a few rows carry all the weight.
- Per-sample losses are the method's task loss per sample: ``|p − y|`` (l1), ``(p − y)²`` (mse)
  or cross-entropy (ce); their mean is :func:`osan.train.epoch_selection.validation_loss`.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

__all__ = [
    "C_GRID",
    "dev_risk",
    "effective_sample_size",
    "entropy_score",
    "im_score",
    "importance_weights",
    "iwv_risk",
    "per_sample_loss",
    "snd_score",
    "softmax",
]

SND_TEMPERATURE = 0.05  # Saito et al. 2021, §3.2
PROB_CLIP = 1e-6


def per_sample_loss(pred: np.ndarray, labels: np.ndarray, kind: str) -> np.ndarray:
    """The task loss of every sample; its mean is the method's ``task_loss``.

    Shape: pred (N,) or (N, K) logits, labels (N,) -> (N,) float64
    """
    p = torch.as_tensor(np.asarray(pred), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels))
    if kind == "ce":
        if p.ndim != 2:
            raise ValueError(f"ce needs (N, K) logits, got shape {tuple(p.shape)}")
        return torch.nn.functional.cross_entropy(p, y.long(), reduction="none").numpy()
    y = y.to(torch.float64)
    if kind == "l1":
        return (p - y).abs().numpy()
    if kind == "mse":
        return ((p - y) ** 2).numpy()
    raise ValueError(f"unknown task loss {kind!r}; expected l1, mse or ce")


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax. Shape: (N, K) -> (N, K)"""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _entropy_rows(prob: np.ndarray) -> np.ndarray:
    """H(p_i) = −Σ_k p_ik log p_ik (nats), with 0·log 0 = 0. Shape: (N, K) -> (N,)"""
    safe = np.where(prob > 0, prob, 1.0)
    return -(prob * np.log(safe)).sum(axis=1)


def _project(x: np.ndarray, max_dim: int | None) -> np.ndarray:
    """Standardise (pooled) and keep the top ``max_dim`` principal components.

    Shape: (N, D) -> (N, min(D, max_dim))
    """
    x = np.asarray(x, dtype=np.float64)
    x = (x - x.mean(0)) / np.maximum(x.std(0), 1e-8)
    if max_dim is None or x.shape[1] <= max_dim:
        return x
    _, _, vt = np.linalg.svd(x, full_matrices=False)  # vt: (min(N, D), D)
    comps = vt[:max_dim]
    # a deterministic sign per component (SVD's is arbitrary)
    comps = comps * np.sign(comps[np.arange(max_dim), np.abs(comps).argmax(1)])[:, None]
    return x @ comps.T  # (N, max_dim)


#: Inverse L2 strengths tried for the domain classifier; the one with the lowest out-of-fold
#: log-loss on the domain labels is kept (the density ratio needs calibrated probabilities).
C_GRID: tuple[float, ...] = (0.01, 0.1, 1.0)


def importance_weights(
    source_features: np.ndarray,
    target_features: np.ndarray,
    *,
    folds: int = 5,
    max_dim: int | None = 32,
    C: float | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Density ratio ``w(x) = p_t(x) / p_s(x)`` at the source rows, from a domain classifier.

    ``w(x) = (n_s / n_t) · P(t | x) / (1 − P(t | x))`` where ``P(t | x)`` is an L2-regularised
    logistic regression (inverse strength ``C``; ``None``: the value of :data:`C_GRID` with the
    lowest out-of-fold log-loss) trained on source (0) vs target (1) rows. Every source row is
    scored by a classifier trained on the other ``folds − 1`` folds (cross-fitting), and
    ``n_s / n_t`` are that classifier's training counts. Reads no task label.

    Shape: source_features (N_s, D), target_features (N_t, D) -> (N_s,) float64, > 0
    """
    xs = np.asarray(source_features)
    xt = np.asarray(target_features)
    if xs.ndim != 2 or xt.ndim != 2 or xs.shape[1] != xt.shape[1]:
        raise ValueError(f"features must be (N, D) with equal D, got {xs.shape} and {xt.shape}")
    n_s, n_t = len(xs), len(xt)
    if n_s < folds or n_t < folds:
        raise ValueError(f"need at least {folds} source and target rows, got {n_s} and {n_t}")
    z = _project(np.concatenate([xs, xt]), max_dim)  # (N_s + N_t, D')
    dom = np.concatenate([np.zeros(n_s, dtype=np.int64), np.ones(n_t, dtype=np.int64)])
    rng = np.random.default_rng(seed)
    fold = np.empty(n_s + n_t, dtype=np.int64)
    fold[:n_s] = rng.permutation(n_s) % folds  # stratified by domain
    fold[n_s:] = rng.permutation(n_t) % folds
    prior = np.empty(n_s + n_t)  # n_s / n_t of the classifier that scores each row

    def out_of_fold(c: float) -> np.ndarray:
        p_t = np.empty(n_s + n_t)  # (N_s + N_t,) P(t | x) from a classifier blind to the row
        for k in range(folds):
            train = fold != k
            clf = LogisticRegression(C=c, max_iter=2000)
            clf.fit(z[train], dom[train])
            p_t[~train] = clf.predict_proba(z[~train])[:, 1]
            prior[~train] = (dom[train] == 0).sum() / (dom[train] == 1).sum()
        return np.clip(p_t, PROB_CLIP, 1.0 - PROB_CLIP)

    def log_loss(p_t: np.ndarray) -> float:
        return float(-np.mean(np.where(dom == 1, np.log(p_t), np.log(1.0 - p_t))))

    candidates = [out_of_fold(c) for c in ((C,) if C is not None else C_GRID)]
    p_t = min(candidates, key=log_loss)[:n_s]
    return prior[:n_s] * p_t / (1.0 - p_t)


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size ``(Σ w)² / Σ w²`` of importance weights: N for equal
    weights, 1 when one row carries all the weight (IWV / DEV are then unreliable).

    Shape: weights (N,) -> scalar
    """
    w = np.asarray(weights, np.float64)
    return float(w.sum() ** 2 / max((w**2).sum(), 1e-300))


def iwv_risk(losses: np.ndarray, weights: np.ndarray) -> float:
    """Importance-weighted validation risk ``1/n Σ_i w_i ℓ_i`` (lower is better).

    Shape: losses (N,), weights (N,) -> scalar
    """
    losses, weights = np.asarray(losses, np.float64), np.asarray(weights, np.float64)
    return float((weights * losses).mean())


def dev_risk(losses: np.ndarray, weights: np.ndarray) -> float:
    """Deep embedded validation risk (You et al. 2019, Alg. 1; lower is better).

    ``R = mean(w·ℓ) + η·mean(w) − η`` with ``η = −Cov(w·ℓ, w) / Var(w)``: the control variate
    ``w`` has known mean 1 under the source, so the estimate stays unbiased and its variance
    drops by ``Corr(w·ℓ, w)²``. With constant weights ``η`` is 0 and ``R`` is IWV.

    Shape: losses (N,), weights (N,) -> scalar
    """
    losses, weights = np.asarray(losses, np.float64), np.asarray(weights, np.float64)
    wl = weights * losses
    var_w = float(weights.var(ddof=1)) if len(weights) > 1 else 0.0
    if var_w <= 1e-12 * max(1.0, float(np.mean(weights)) ** 2):
        return float(wl.mean())
    eta = -float(np.cov(wl, weights, ddof=1)[0, 1]) / var_w
    return float(wl.mean() + eta * weights.mean() - eta)


@torch.no_grad()
def snd_score(prob: np.ndarray, temperature: float = SND_TEMPERATURE, chunk: int = 1024) -> float:
    """Soft neighbourhood density (Saito et al. 2021; higher is better).

    ``s_ij = <p̂_i, p̂_j> / τ`` on L2-normalised rows, ``s_ii`` excluded, ``q_i = softmax_j s_ij``,
    ``SND = mean_i H(q_i)``. Identical rows give ``log(N − 1)``; K tight one-hot clusters of n
    rows each give ``≈ log(n − 1)``.

    Shape: prob (N, K) -> scalar
    """
    x = torch.as_tensor(np.asarray(prob), dtype=torch.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"SND needs (N >= 2, K) probabilities, got shape {tuple(x.shape)}")
    x = torch.nn.functional.normalize(x, dim=1)
    n = x.shape[0]
    total = 0.0
    for start in range(0, n, chunk):
        rows = torch.arange(start, min(start + chunk, n))
        sim = x[rows] @ x.T / temperature  # (B, N)
        sim[torch.arange(len(rows)), rows] = -torch.inf  # no sample is its own neighbour
        logq = torch.log_softmax(sim, dim=1)  # (B, N)
        q = logq.exp()
        ent = -torch.where(q > 0, q * logq, torch.zeros_like(q)).sum(1)  # (B,)
        total += float(ent.sum())
    return total / n


def entropy_score(prob: np.ndarray) -> float:
    """Mean prediction entropy ``mean_i H(p_i)`` in nats (lower is better).

    Shape: prob (N, K) -> scalar
    """
    return float(_entropy_rows(np.asarray(prob, np.float64)).mean())


def im_score(prob: np.ndarray) -> float:
    """Information maximisation ``H(mean_i p_i) − mean_i H(p_i)`` in nats (higher is better):
    confident predictions that still use every class. ``log K`` at best, 0 for a collapse.

    Shape: prob (N, K) -> scalar
    """
    p = np.asarray(prob, np.float64)
    return float(_entropy_rows(p.mean(0, keepdims=True))[0] - _entropy_rows(p).mean())

"""AdaBN (Li et al., 2016): re-estimate the normalisation statistics on the target; no
gradient step. The floor every test-time method must beat.

What osan's models normalise with statistics:

- per-domain input statistics (``encoder.input_norm = center | domain``,
  :mod:`osan.nn.standardize`): the target's μ, σ are recomputed from the new target's train split
  features, x' = (x − μ_t) / σ_t;
- BatchNorm running statistics, if a model has any (osan's encoders use LayerNorm, which has
  none): reset and re-estimated as the cumulative mean / variance over one pass of the
  target's train split, μ_t = E_t[x], σ²_t = Var_t[x].

With ``encoder.input_norm = none`` and no BatchNorm (osan's defaults) there is nothing to
re-estimate, and AdaBN returns the run unchanged.
"""

from __future__ import annotations

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from osan.data.domain import Split, SplitLoader
from osan.methods import Method


@torch.no_grad()
def adabn(method: Method, split: Split, device: torch.device | str, batch_size: int = 256) -> int:
    """Re-estimate ``method``'s target statistics on ``split`` (features only).

    Returns the number of normalisation layers whose statistics were re-estimated.
    """
    method.encoder.fit_input_norm("target", split)
    count = 0 if method.encoder.input_norm is None else len(method.encoder.modalities)
    bns = [m for m in method.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    if bns:
        was_training = method.training
        momenta = [bn.momentum for bn in bns]
        method.eval()
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the pass
            bn.train()
        for batch in SplitLoader(split, batch_size, labelled=False, device=device):
            method.predict(batch, "target")
        for bn, momentum in zip(bns, momenta, strict=True):
            bn.momentum = momentum
        method.train(was_training)
        count += len(bns)
    return count

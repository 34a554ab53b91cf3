"""Tensor-based alignment (TAL): paper §3.1, Eq. (1)-(3), computed without the full tensor.

Setting. Per sample b and modality n (in the order of ``out_dims``) the source encoders give
h_b^(n) ∈ R^{I_n} and the target encoders g_b^(n) ∈ R^{J_n}. The multimodal tensors are the outer
products of the *mode-centred* embeddings

    X_b = x_b^(1) ∘ x_b^(2) ∘ ... ∘ x_b^(N),   x_b^(n) = h_b^(n) − μ_s^(n)        (I_1 × ... × I_N)
    Y_b = y_b^(1) ∘ ... ∘ y_b^(N),             y_b^(n) = g_b^(n) − μ_t^(n)        (J_1 × ... × J_N)

with μ the running mean of that domain and modality. TAL looks for per-mode projections U^(n)
(I_n × D_n) and V^(n) (J_n × D_n) maximising the correlation of the projected tensors
X ×_1 U^(1)ᵀ ... ×_N U^(N)ᵀ and Y ×_1 V^(1)ᵀ ... ×_N V^(N)ᵀ (Eq. (1)), by alternating projection
(Eq. (2)): fix every mode but n, solve a regularised CCA for mode n, sweep the modes.

The package, one concept per module:

- ``layer``: :class:`TensorAlignment`, the ``nn.Module`` that holds U, V, the running
  statistics and the options (defaults: ``osan.config.TALConfig``'s);
- ``fusion``: Eq. (1), the per-mode projection, its normalisation and the outer product
  (``project``, ``project_modes``, ``outer_flatten``) and the correlation objective;
- ``statistics``: Eq. (2) over training, the running means and covariances and the closed-form
  ``update`` (momentum ramp, per-mode initialisation, tie);
- ``cca``: the float64 solver of Eq. (2)-(3), pure functions: factored mode statistics, thin-space
  bases, whitening, regularised CCA with its sign, rotation and completion rules.

``osan.alignment.tal_reference`` is the naive full-tensor version the tests compare against.
"""

from osan.alignment.tal.cca import ORIENTS
from osan.alignment.tal.fusion import DOMAINS, NORMALIZATIONS, outer_flatten
from osan.alignment.tal.layer import SOLVERS, TensorAlignment

__all__ = ["TensorAlignment", "outer_flatten", "DOMAINS", "SOLVERS", "ORIENTS", "NORMALIZATIONS"]

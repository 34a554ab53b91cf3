"""TAL (paper §3.1, Eq. (1)-(3)): the factored fast path equals the naive full-tensor reference,
and the alignment does what it is for on data with a planted shared latent.

The production path (the constructor's defaults: gradient solver initialised by the closed
form, rotated directions, tied projections, standardised coordinates) is checked against the
reference directly: its update finds the reference's subspaces and statistics (rotation and the
tie leave Eq. (2) as it is), and its projection is the reference's Eq. (1) of the batch-
standardised coordinates. The machinery is also checked line by line under
``REFERENCE_OPTIONS`` (the paper's closed form, which the reference implements)."""

from __future__ import annotations

import pytest
import torch

import osan.alignment.tal.cca as cca_module
from osan.alignment.tal import TensorAlignment, outer_flatten
from osan.alignment.tal.fusion import _STD_EPS
from osan.alignment.tal_reference import (
    REFERENCE_OPTIONS,
    reference_covariances,
    reference_project,
    reference_update,
)

SRC = {"text": 12, "vision": 5, "audio": 4}
TGT = {"text": 10, "vision": 6, "audio": 4}  # target dims differ from the source's
OUT = {"text": 3, "vision": 2, "audio": 2}
MODES = list(OUT)
TOL = 1e-5
REF = REFERENCE_OPTIONS


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _batch(b: int, dims: dict[str, int], gen: torch.Generator, shift: float = 0.0) -> dict:
    return {
        m: torch.randn(b, d, generator=gen, dtype=torch.float64) + shift for m, d in dims.items()
    }


def _paired(b: int, gen: torch.Generator) -> tuple[dict, dict]:
    """Source and target with some shared signal per mode (so correlations are not all ~0)."""
    h_s, h_t = _batch(b, SRC, gen, shift=0.5), _batch(b, TGT, gen, shift=-0.3)
    for m in MODES:
        k = min(SRC[m], TGT[m]) - 1
        h_t[m][:, :k] += 2.0 * h_s[m][:, :k]
    return h_s, h_t


def _state(tal: TensorAlignment) -> dict:
    state = {
        "U": {m: tal.projection(m, "source").clone() for m in MODES},
        "V": {m: tal.projection(m, "target").clone() for m in MODES},
        "mean_s": {m: tal.running_mean(m, "source").clone() for m in MODES},
        "mean_t": {m: tal.running_mean(m, "target").clone() for m in MODES},
    }
    if tal.momentum is not None:
        for key in ("xx", "yy", "xy"):
            state[f"c{key}"] = {m: getattr(tal, f"cov_{key}_{m}").clone() for m in MODES}
    return state


def _close(a: torch.Tensor, b: torch.Tensor, tol: float = TOL) -> bool:
    """Max abs difference relative to the reference's scale (≥ 1)."""
    return float((a - b).abs().max()) <= tol * max(1.0, float(b.abs().max()))


# -- shapes and construction ---------------------------------------------------------------------
@pytest.mark.parametrize("append_one, size", [(True, 4 * 3 * 3), (False, 3 * 2 * 2)])
def test_out_dim_and_shapes(append_one: bool, size: int, gen: torch.Generator) -> None:
    tal = TensorAlignment(SRC, TGT, OUT, append_one=append_one)
    tal.eval()
    assert tal.out_dim == size
    h_s, h_t = _paired(7, gen)
    assert tal.project(h_s, "source").shape == (7, size)
    assert tal.project(h_t, "target").shape == (7, size)


def test_untrained_tal_projects_onto_first_coordinates(gen: torch.Generator) -> None:
    tal = TensorAlignment(SRC, TGT, OUT, append_one=False, **REF)
    h_s, _ = _paired(5, gen)
    expected = outer_flatten([h_s[m][:, : OUT[m]] for m in MODES])  # (B, 12)
    assert torch.allclose(tal.project(h_s, "source"), expected)


def test_out_dim_larger_than_input_dim_raises() -> None:
    with pytest.raises(ValueError, match="D <= I"):
        TensorAlignment(SRC, TGT, {**OUT, "vision": 6})  # > source vision 5
    with pytest.raises(ValueError, match="D <= I"):
        TensorAlignment(SRC, {**TGT, "audio": 1}, OUT)  # > target audio 1
    with pytest.raises(ValueError, match="modalities differ"):
        TensorAlignment(SRC, {"text": 10, "vision": 6}, OUT)


def test_mismatched_batches_raise(gen: torch.Generator) -> None:
    tal = TensorAlignment(SRC, TGT, OUT)
    h_s, h_t = _paired(6, gen)
    with pytest.raises(ValueError, match="paired"):
        tal.update(h_s, {m: x[:5] for m, x in h_t.items()})
    with pytest.raises(ValueError, match="expected"):
        tal.project(h_t, "source")  # target dims through the source side


# -- fast path == naive full-tensor reference ----------------------------------------------------
@pytest.mark.parametrize("b", [16, 5, 3, 2])  # 2: B·P_n < I_n for text (2·4 < 12)
@pytest.mark.parametrize("thin", [False, True])
def test_covariances_match_reference(b: int, thin: bool, gen: torch.Generator) -> None:
    tal = TensorAlignment(SRC, TGT, OUT, momentum=None, **REF)
    tal.update(*_paired(9, gen))  # non-trivial U, V and running means
    h_s, h_t = _paired(b, gen)
    fast = tal.mode_covariances(h_s, h_t, thin=thin)
    st = _state(tal)
    for n, m in enumerate(MODES):
        ref = reference_covariances(
            h_s, h_t, st["U"], st["V"], st["mean_s"], st["mean_t"], MODES, n
        )
        for got, want in zip(fast[m], ref, strict=True):
            assert got.shape == want.shape
            assert _close(got, want)


@pytest.mark.parametrize("append_one", [True, False])
@pytest.mark.parametrize("domain", ["source", "target"])
def test_project_matches_reference(append_one: bool, domain: str, gen: torch.Generator) -> None:
    tal = TensorAlignment(SRC, TGT, OUT, append_one=append_one, **REF)
    tal.update(*_paired(10, gen))
    h_s, h_t = _paired(6, gen)
    h = h_s if domain == "source" else h_t
    st = _state(tal)
    mats, means = (st["U"], st["mean_s"]) if domain == "source" else (st["V"], st["mean_t"])
    want = reference_project(h, mats, means, MODES, append_one=append_one)
    assert _close(tal.project(h, domain), want)


def _span(u: torch.Tensor) -> torch.Tensor:
    """Orthogonal projector onto the column space of u. Shape: (I, D) -> (I, I)"""
    q, _ = torch.linalg.qr(u.detach().double())
    return q @ q.T


def test_production_update_finds_the_references_subspaces_and_statistics(
    gen: torch.Generator,
) -> None:
    """OSAN's TAL (``TensorAlignment(src, tgt, out)``: gradient solver, rotation, tie) updated
    three times equals the naive reference with the same tie, up to the orthogonal rotation
    inside each subspace: the same spans of U and V, running means and covariances, and the
    same canonical correlations."""
    tal = TensorAlignment(SRC, TGT, OUT)
    assert (tal.solver, tal.orient, tal.tie, tal.normalize) == (
        "gradient",
        "rotate",
        True,
        "standardize",
    )
    assert tal.tied_modes == {"audio"}  # the only mode whose source and target dims agree
    state = {k: {m: x.detach().double() for m, x in v.items()} for k, v in _state(tal).items()}
    for step in range(3):
        h_s, h_t = _paired(16, gen)
        logs = tal.update(h_s, h_t)
        state, corrs = reference_update(
            h_s, h_t, state, MODES, momentum=tal.momentum, num_updates=step, tied=tal.tied_modes
        )
        got = _state(tal)
        for m in MODES:
            for key in ("mean_s", "mean_t", "cxx", "cyy", "cxy"):
                assert _close(got[key][m].double(), state[key][m], 1e-4), (step, key, m)
            for key in ("U", "V"):
                assert _close(_span(got[key][m]), _span(state[key][m]), 1e-4), (step, key, m)
            assert logs[f"tal/corr_{m}"] == pytest.approx(float(corrs[m].mean()), abs=1e-5)
        torch.testing.assert_close(
            tal.projection("audio", "target"), tal.projection("audio", "source")
        )


@pytest.mark.parametrize("domain", ["source", "target"])
def test_production_project_is_the_references_eq1_of_standardised_coordinates(
    domain: str, gen: torch.Generator
) -> None:
    """In training, OSAN's TAL projects each mode through its (tied) projection and standardises
    every coordinate over the batch: that is the reference's Eq. (1) with the batch mean as
    centre and W = U / √(var + eps) per coordinate, ones appended, outer product."""
    tal = TensorAlignment(SRC, TGT, OUT).train()
    tal.update(*_paired(10, gen))  # the closed-form initialisation of the gradient solver
    h_s, h_t = _paired(6, gen)
    h = h_s if domain == "source" else h_t
    mats, means = {}, {}
    for m in MODES:
        u = tal.projection(m, domain).detach().double()  # (I, D)
        centre = h[m].mean(0)  # (I,)
        var = ((h[m] - centre) @ u).var(0, unbiased=False)  # (D,)
        mats[m], means[m] = u / torch.sqrt(var + _STD_EPS), centre
    want = reference_project(h, mats, means, MODES, append_one=True)  # (B, Π (D + 1))
    got = tal.project(h, domain)
    assert got.shape == want.shape == (6, 4 * 3 * 3)
    assert _close(got.detach(), want, 1e-5)


@pytest.mark.parametrize(
    "momentum, sweeps, b",
    [
        (0.9, 1, 16),  # EMA, full space after the first update
        (0.9, 3, 16),  # several sweeps
        (None, 1, 16),
        (None, 2, 3),  # thin space on every mode (3 < 4, 5, 12), completion of missing directions
        (0.5, 2, 2),  # thin first update (B·P_n < I_n), then EMA in full space
    ],
)
def test_update_matches_reference(
    momentum: float | None, sweeps: int, b: int, gen: torch.Generator
) -> None:
    tal = TensorAlignment(SRC, TGT, OUT, momentum=momentum, sweeps=sweeps, **REF)
    state = _state(tal)
    for step in range(3):
        h_s, h_t = _paired(b, gen)
        logs = tal.update(h_s, h_t)
        state, corrs = reference_update(
            h_s, h_t, state, MODES, sweeps=sweeps, momentum=momentum, num_updates=step
        )
        got = _state(tal)
        for key in state:
            for m in MODES:
                assert _close(got[key][m], state[key][m]), (step, key, m)
        for m in MODES:
            assert 0.0 <= float(corrs[m].min()) and float(corrs[m].max()) <= 1.0
            assert logs[f"tal/corr_{m}"] == pytest.approx(float(corrs[m].mean()), abs=1e-6)
        for domain, h, mats, means in (
            ("source", h_s, state["U"], state["mean_s"]),
            ("target", h_t, state["V"], state["mean_t"]),
        ):
            want = reference_project(h, mats, means, MODES)
            assert _close(tal.project(h, domain), want)


@pytest.mark.parametrize("momentum, b", [(0.9, 16), (None, 3)])
def test_gram_routes_match_reference(
    momentum: float | None, b: int, gen: torch.Generator, monkeypatch
) -> None:
    """Large T go through eigh of a Gram matrix instead of an SVD, and large completions take
    the polar factor by eigh; force both on small dims."""
    monkeypatch.setattr(cca_module, "_GRAM_MIN", 2)
    monkeypatch.setattr(cca_module, "_POLAR_GRAM_MIN", 1)
    tal = TensorAlignment(SRC, TGT, OUT, momentum=momentum, **REF)
    state = _state(tal)
    for step in range(3):
        h_s, h_t = _paired(b, gen)
        tal.update(h_s, h_t)
        state, _ = reference_update(h_s, h_t, state, MODES, momentum=momentum, num_updates=step)
    for m in MODES:
        assert _close(tal.projection(m, "source"), state["U"][m])
        assert _close(tal.projection(m, "target"), state["V"][m])


def test_update_satisfies_eq2_constraints(gen: torch.Generator) -> None:
    """After the last mode's solve: Uᵀ(C_xx + ρI)U = I, Vᵀ(C_yy + ρI)V = I, UᵀC_xyV = diag(corr)."""
    tal = TensorAlignment(SRC, TGT, OUT, momentum=None, eps=1e-3, **REF)
    h_s, h_t = _paired(32, gen)
    tal.update(h_s, h_t)
    last = MODES[-1]
    cxx, cyy, cxy = tal.mode_covariances(h_s, h_t)[last]
    u, v = tal.projection(last, "source"), tal.projection(last, "target")
    rho_x = 1e-3 * float(torch.trace(cxx)) / cxx.shape[0] + 1e-12
    rho_y = 1e-3 * float(torch.trace(cyy)) / cyy.shape[0] + 1e-12
    eye = torch.eye(OUT[last], dtype=torch.float64)
    assert torch.allclose(u.T @ (cxx + rho_x * torch.eye(cxx.shape[0])) @ u, eye, atol=1e-8)
    assert torch.allclose(v.T @ (cyy + rho_y * torch.eye(cyy.shape[0])) @ v, eye, atol=1e-8)
    cross = u.T @ cxy @ v
    assert torch.allclose(cross, torch.diag(torch.diagonal(cross)), atol=1e-8)
    assert (torch.diagonal(cross) >= 0).all()


def test_single_modality_is_plain_cca_and_stable(gen: torch.Generator) -> None:
    """N = 1: one solve is exact, so a second update on the same batch changes nothing
    (signs included)."""
    x = torch.randn(40, 6, generator=gen, dtype=torch.float64)
    y = x[:, :4] @ torch.randn(4, 5, generator=gen, dtype=torch.float64)
    y = y + 0.1 * torch.randn(40, 5, generator=gen, dtype=torch.float64)
    tal = TensorAlignment({"text": 6}, {"text": 5}, {"text": 3}, momentum=None, **REF)
    logs = tal.update({"text": x}, {"text": y})
    u1 = tal.projection("text", "source").clone()
    tal.update({"text": x}, {"text": y})
    assert torch.allclose(tal.projection("text", "source"), u1, atol=1e-10)
    assert logs["tal/corr1_text"] > 0.95


def test_constant_modality_keeps_projections(gen: torch.Generator) -> None:
    """A modality that is constant in the batch zeroes the whole tensor: nothing to fit."""
    tal = TensorAlignment(SRC, TGT, OUT, momentum=None, **REF)
    tal.update(*_paired(8, gen))
    h_s, h_t = _paired(8, gen)
    h_s["audio"] = torch.full_like(h_s["audio"], 3.0)
    before = _state(tal)
    logs = tal.update(h_s, h_t)
    after = _state(tal)
    for m in MODES:
        assert torch.equal(after["U"][m], before["U"][m])
        assert torch.equal(after["V"][m], before["V"][m])
        assert logs[f"tal/corr_{m}"] == 0.0
    state, _ = reference_update(h_s, h_t, before, MODES, momentum=None, num_updates=1)
    assert all(torch.equal(state["U"][m], before["U"][m]) for m in MODES)
    assert torch.isfinite(tal.project(_paired(8, gen)[0], "source")).all()


# -- behaviour -----------------------------------------------------------------------------------
def _planted(b: int, gen: torch.Generator, maps: dict) -> tuple[dict, dict]:
    """Per mode a shared latent l (B, D_n); source = l A_n + noise, target = l B_n + noise."""
    h_s, h_t = {}, {}
    for m in MODES:
        a, c = maps[m]
        lat = torch.randn(b, OUT[m], generator=gen, dtype=torch.float64)
        h_s[m] = lat @ a + 0.1 * torch.randn(b, SRC[m], generator=gen, dtype=torch.float64)
        h_t[m] = lat @ c + 0.1 * torch.randn(b, TGT[m], generator=gen, dtype=torch.float64)
    return h_s, h_t


def _maps(gen: torch.Generator) -> dict:
    """Per mode the source and target maps of the latent; one map where the dims agree (audio),
    the setting in which the production TAL ties V to U."""
    maps = {}
    for m in MODES:
        a = torch.randn(OUT[m], SRC[m], generator=gen, dtype=torch.float64)
        same = SRC[m] == TGT[m]
        maps[m] = (
            a,
            a if same else torch.randn(OUT[m], TGT[m], generator=gen, dtype=torch.float64),
        )
    return maps


def test_planted_latent_is_recovered_and_random_pairs_are_not(gen: torch.Generator) -> None:
    maps = _maps(gen)
    paired = TensorAlignment(SRC, TGT, OUT, sweeps=2)
    shuffled = TensorAlignment(SRC, TGT, OUT, sweeps=2)
    for _ in range(5):
        h_s, h_t = _planted(64, gen, maps)
        paired.update(h_s, h_t)
        perm = torch.randperm(64, generator=gen)
        shuffled.update({m: x[perm] for m, x in h_s.items()}, h_t)
    h_s, h_t = _planted(256, gen, maps)  # fresh pairs
    with torch.no_grad():
        corr_paired = -float(paired.correlation_loss(h_s, h_t))
        corr_random = -float(shuffled.correlation_loss(h_s, h_t))
    assert corr_paired > 0.8
    assert corr_paired > corr_random + 0.5


def test_correlation_loss_trains_encoders(gen: torch.Generator) -> None:
    maps = _maps(gen)
    tal = TensorAlignment(SRC, TGT, OUT)
    tal.update(*_planted(64, gen, maps))
    enc_s = {m: torch.nn.Linear(SRC[m], SRC[m]).double() for m in MODES}
    enc_t = {m: torch.nn.Linear(TGT[m], TGT[m]).double() for m in MODES}
    with torch.no_grad():  # start from encoders that scramble the aligned directions
        for enc in list(enc_s.values()) + list(enc_t.values()):
            enc.weight.copy_(torch.randn(enc.weight.shape, generator=gen, dtype=torch.float64))
    params = [p for e in list(enc_s.values()) + list(enc_t.values()) for p in e.parameters()]
    opt = torch.optim.SGD(params, lr=0.5)

    def loss_on(x_s: dict, x_t: dict) -> torch.Tensor:
        h_s = {m: enc_s[m](x_s[m]) for m in MODES}
        h_t = {m: enc_t[m](x_t[m]) for m in MODES}
        return tal.correlation_loss(h_s, h_t)

    x_s, x_t = _planted(128, gen, maps)
    with torch.no_grad():
        before = -float(loss_on(x_s, x_t))
    loss = loss_on(x_s, x_t)
    loss.backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in params)
    opt.zero_grad()
    for _ in range(30):
        loss = loss_on(*_planted(128, gen, maps))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = -float(loss_on(x_s, x_t))
    assert after > before + 0.3, (before, after)


def test_correlation_loss_trains_embeddings_and_projections_and_writes_no_state(
    gen: torch.Generator,
) -> None:
    """The objective's gradient reaches the embeddings and (gradient solver, the default) every
    U and V; TAL's running statistics are constants of it: read, never written."""
    tal = TensorAlignment(SRC, TGT, OUT)
    h_s, h_t = _paired(8, gen)
    tal.update(h_s, h_t)
    tal.train()
    buffers = {name: b.clone() for name, b in tal.named_buffers()}
    h_s = {m: x.float().requires_grad_() for m, x in h_s.items()}
    h_t = {m: x.float().requires_grad_() for m, x in h_t.items()}
    loss = tal.correlation_loss(h_s, h_t)
    assert loss.dim() == 0 and loss.dtype == torch.float32
    assert -1.0 <= float(loss.detach()) <= 1.0
    loss.backward()
    for h in (h_s, h_t):
        assert all(float(x.grad.abs().sum()) > 0 for x in h.values())
    params = dict(tal.named_parameters())
    assert set(params) == {"U_text", "V_text", "U_vision", "V_vision", "U_audio"}  # audio tied
    assert all(float(p.grad.abs().sum()) > 0 for p in params.values())
    for name, b in tal.named_buffers():
        assert not b.requires_grad, name
        assert torch.equal(b, buffers[name]), name


def test_state_dict_round_trip_resumes_exactly(gen: torch.Generator) -> None:
    tal = TensorAlignment(SRC, TGT, OUT)
    for _ in range(3):
        tal.update(*_paired(12, gen))
    keys = set(tal.state_dict())
    assert {"U_text", "V_text", "mean_source_vision", "cov_xy_text", "num_updates"} <= keys
    assert "V_audio" not in keys  # tied: audio has one projection
    clone = TensorAlignment(SRC, TGT, OUT)
    clone.load_state_dict(tal.state_dict())
    h_s, h_t = _paired(12, gen)
    for domain, h in (("source", h_s), ("target", h_t)):
        assert torch.equal(clone.project(h, domain), tal.project(h, domain))
    assert clone.update(h_s, h_t) == tal.update(h_s, h_t)
    for domain, h in (("source", h_s), ("target", h_t)):
        assert torch.equal(clone.project(h, domain), tal.project(h, domain))

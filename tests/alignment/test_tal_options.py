"""TAL options beyond the paper's text: orientation by rotation, tying, normalisation, the
gradient solver. Constructor defaults are the production configuration (``TALConfig()``)."""

import inspect

import torch

from osan.alignment.tal import TensorAlignment, outer_flatten
from osan.alignment.tal_reference import REFERENCE_OPTIONS, reference_update
from osan.config import TALConfig

DIMS = {"text": 12, "vision": 5, "audio": 4}
OUT = {"text": 3, "vision": 2, "audio": 2}
REF = REFERENCE_OPTIONS


def planted(b=64, seed=0, maps_seed=None, dims=DIMS):
    """Per mode a 2-d shared latent z; source = z A + noise, target = z C + noise (target dims
    ``dims``). The maps A, C are drawn from ``maps_seed`` (default ``seed``), the samples from
    ``seed``: a fixed ``maps_seed`` gives fresh batches of one distribution."""
    gm = torch.Generator().manual_seed(seed if maps_seed is None else maps_seed)
    maps = {
        m: (
            torch.randn(2, DIMS[m], generator=gm, dtype=torch.float64),
            torch.randn(2, dims[m], generator=gm, dtype=torch.float64),
        )
        for m in DIMS
    }
    g = gm if maps_seed is None else torch.Generator().manual_seed(seed)
    z = {m: torch.randn(b, 2, generator=g, dtype=torch.float64) for m in DIMS}
    hs = {
        m: z[m] @ maps[m][0] + 0.3 * torch.randn(b, d, generator=g, dtype=torch.float64)
        for m, d in DIMS.items()
    }
    ht = {
        m: z[m] @ maps[m][1] + 0.3 * torch.randn(b, d, generator=g, dtype=torch.float64)
        for m, d in dims.items()
    }
    return hs, ht


def span(u):
    """Orthogonal projector onto the column space of u. Shape: (I, D) -> (I, I)"""
    q, _ = torch.linalg.qr(u)
    return q @ q.T


def test_constructor_defaults_are_the_config_defaults():
    """``TensorAlignment(dims, dims, out)`` builds the variant OSAN trains with."""
    cfg = TALConfig()
    options = [
        p
        for p in inspect.signature(TensorAlignment).parameters.values()
        if p.kind == p.KEYWORD_ONLY
    ]
    assert {p.name for p in options} == {
        "eps",
        "sweeps",
        "momentum",
        "append_one",
        "orient",
        "normalize",
        "solver",
        "tie",
    }
    fixed = {"orient": "rotate", "tie": True}  # no config key: production-only choices
    for p in options:
        assert p.default == fixed.get(p.name, getattr(cfg, p.name, None)), p.name


def test_rotation_finds_the_same_subspaces_and_moves_less():
    """Eq. (2)'s statistics are invariant when U^(k), V^(k) turn by one orthogonal R_k, so
    orienting by rotation changes the coordinates inside each fitted subspace, never the
    subspace; and it keeps them closer to the previous step's."""
    tals = {
        o: TensorAlignment(DIMS, DIMS, OUT, momentum=0.9, **{**REF, "orient": o})
        for o in ("sign", "rotate")
    }
    moves = {o: 0.0 for o in tals}
    for step in range(6):
        hs, ht = planted(seed=step)
        for o, tal in tals.items():
            before = {m: tal.projection(m, "source").clone() for m in OUT}
            tal.update(hs, ht)
            if step > 0:
                moves[o] += sum(
                    float((tal.projection(m, "source") - before[m]).norm()) for m in OUT
                )
        for m in OUT:
            for dom in ("source", "target"):
                a = span(tals["sign"].projection(m, dom))
                b = span(tals["rotate"].projection(m, dom))
                assert torch.allclose(a, b, atol=1e-6), (step, m, dom)
    assert moves["rotate"] <= moves["sign"] + 1e-9


def test_the_tie_path_of_update_matches_the_reference_with_v_tied():
    """With ``tie``, modes whose dims agree have one projection and ``update`` keeps V^(n) =
    U^(n) through its sweeps (so the other modes' statistics see the projection the model
    applies): step by step the naive full-tensor update with the same tie gives the same U, V."""
    tdims = {"text": 12, "vision": 7, "audio": 4}  # vision's dims differ: it keeps its own V
    tal = TensorAlignment(DIMS, tdims, OUT, momentum=0.9, sweeps=2, **{**REF, "tie": True})
    assert tal.tied_modes == {"text", "audio"}
    keys = set(tal.state_dict())
    assert "V_vision" in keys and not {"V_text", "V_audio"} & keys  # no V for a tied mode
    modes = list(OUT)
    state = {
        "U": {m: tal.projection(m, "source").clone() for m in modes},
        "V": {m: tal.projection(m, "target").clone() for m in modes},
        "mean_s": {m: tal.running_mean(m, "source").clone() for m in modes},
        "mean_t": {m: tal.running_mean(m, "target").clone() for m in modes},
    }
    for step in range(3):
        hs, ht = planted(seed=step, dims=tdims)
        tal.update(hs, ht)
        state, _ = reference_update(
            hs, ht, state, modes, sweeps=2, momentum=0.9, num_updates=step, tied=tal.tied_modes
        )
        for m in modes:
            torch.testing.assert_close(tal.projection(m, "source"), state["U"][m])
            torch.testing.assert_close(tal.projection(m, "target"), state["V"][m])
        assert tal.projection("text", "target") is tal.projection("text", "source")
    # the tie changed the solution: an untied update of the same batches differs
    untied = TensorAlignment(DIMS, tdims, OUT, momentum=0.9, sweeps=2, **REF)
    for step in range(3):
        untied.update(*planted(seed=step, dims=tdims))
    assert not torch.allclose(
        untied.projection("vision", "source"), tal.projection("vision", "source"), atol=1e-3
    )


def test_standardize_gives_unit_variance_in_training():
    """``normalize="standardize"`` (the default): in training every projected coordinate of
    each domain has mean 0 and variance 1 over the batch, whatever the scale of the
    embeddings; ``project`` is the outer product of these factors and the ones."""
    tal = TensorAlignment(DIMS, DIMS, OUT, append_one=True)
    assert tal.normalize == "standardize"
    hs, ht = planted()
    tal.update(hs, ht)
    tal.train()
    for domain, h in (("source", hs), ("target", ht)):
        scaled = {m: 50.0 * x.float() for m, x in h.items()}
        raw = tal.project_modes(scaled, domain)
        assert float(raw["text"].detach().std(0).max()) > 10  # far from unit variance before
        modes = tal.normalized_modes(scaled, domain)
        for m, f in modes.items():
            torch.testing.assert_close(f.mean(0), torch.zeros(OUT[m]), atol=1e-5, rtol=0)
            var = f.var(0, unbiased=False)
            torch.testing.assert_close(var, torch.ones(OUT[m]), atol=1e-4, rtol=0)
        ones = [torch.cat([modes[m], torch.ones(64, 1)], 1) for m in OUT]
        torch.testing.assert_close(tal.project(scaled, domain), outer_flatten(ones))


def test_standardize_in_eval_matches_training_once_the_running_estimates_converged():
    """Eval standardises with running estimates, training with the batch's own statistics:
    after the estimates converged on batches of one distribution, both agree on a large batch
    of it (per domain), and eval leaves the estimates alone."""
    tal = TensorAlignment(DIMS, DIMS, OUT)
    tal.update(*planted(maps_seed=0, seed=1))
    tal.train()
    with torch.no_grad():
        for seed in range(2, 102):
            hs, ht = planted(b=2048, maps_seed=0, seed=seed)
            tal.project(hs, "source")
            tal.project(ht, "target")
    big_s, big_t = planted(b=16384, maps_seed=0, seed=500)
    for domain, h in (("source", big_s), ("target", big_t)):
        with torch.no_grad():
            tal.eval()
            running = tal.normalized_modes(h, domain)
            assert all(
                torch.equal(running[m], x) for m, x in tal.normalized_modes(h, domain).items()
            )
            tal.train()
            batch = tal.normalized_modes(h, domain)
        for m in OUT:
            torch.testing.assert_close(running[m], batch[m], atol=0.05, rtol=0.02)


def test_orthonormal_projects_onto_the_same_subspace_without_amplification():
    whitened_tal = TensorAlignment(DIMS, DIMS, OUT, momentum=None, **REF)
    hs, ht = planted()
    whitened_tal.update(hs, ht)
    ortho_tal = TensorAlignment(
        DIMS, DIMS, OUT, momentum=None, **{**REF, "normalize": "orthonormal"}
    )
    ortho_tal.load_state_dict(whitened_tal.state_dict())
    whitened = whitened_tal.project_modes(hs, "source")
    ortho = ortho_tal.project_modes(hs, "source")
    for m in OUT:
        x = hs[m] - whitened_tal.running_mean(m, "source")
        # an orthonormal basis never lengthens a vector ...
        assert bool((ortho[m].norm(dim=1) <= x.norm(dim=1) + 1e-9).all())
        # ... and spans the fitted subspace: both codes are invertible linear maps of each other
        sol = torch.linalg.lstsq(ortho[m], whitened[m]).solution
        assert torch.allclose(ortho[m] @ sol, whitened[m], atol=1e-6)


def test_layer_normalises_each_flattened_sample():
    tal = TensorAlignment(DIMS, DIMS, OUT, normalize="layer")
    hs, ht = planted()
    tal.update(hs, ht)
    out = tal.project({m: x.float() for m, x in hs.items()}, "source")  # (B, out_dim)
    torch.testing.assert_close(out.mean(1), torch.zeros(64), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.var(1, unbiased=False), torch.ones(64), atol=1e-3, rtol=0)


def test_gradient_solver_learns_u_and_v_by_backprop():
    """solver="gradient" (the default): U/V are parameters; the correlation objective moves
    them (and a closed-form update still sets them, e.g. as the initialisation)."""
    tdims = {"text": 12, "vision": 7, "audio": 4}
    tal = TensorAlignment(DIMS, tdims, OUT, momentum=None)
    params = dict(tal.named_parameters())
    assert {f"U_{m}" for m in OUT} | {"V_vision"} == set(params)
    hs, ht = planted(dims=tdims)
    hs = {m: x.float() for m, x in hs.items()}
    ht = {m: x.float() for m, x in ht.items()}
    tal.update(hs, ht)  # closed-form initialisation writes into the parameters
    assert not torch.equal(tal.projection("text", "source"), torch.eye(12, 3))
    opt = torch.optim.SGD(tal.parameters(), lr=0.05)
    first = float(tal.correlation_loss(hs, ht).detach())
    for _ in range(30):
        opt.zero_grad()
        loss = tal.correlation_loss(hs, ht)
        loss.backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in tal.parameters())
        opt.step()
    assert float(tal.correlation_loss(hs, ht).detach()) < first - 1e-3


def test_closed_form_solver_has_no_parameters():
    """The paper's closed-form U/V are not trained by the optimiser."""
    assert list(TensorAlignment(DIMS, DIMS, OUT, solver="closed_form").parameters()) == []


def test_tie_shares_one_projection_where_dims_agree():
    tdims = {"text": 12, "vision": 7, "audio": 4}
    tal = TensorAlignment(DIMS, tdims, OUT, solver="gradient", tie=True)
    assert tal.projection("text", "target") is tal.projection("text", "source")
    assert tal.projection("vision", "target") is not tal.projection("vision", "source")
    assert "V_text" not in dict(tal.named_parameters())


def test_a_tied_update_writes_the_source_side_solution_into_the_shared_projection():
    """With one modality nothing couples the modes, so a tied update must leave the untied
    update's source-side U in the shared projection (not the target-side V): exactly with
    canonical directions; the same subspace with the default rotation (which orients by the
    previous U and V, and a tied V is U)."""
    torch.manual_seed(0)
    hs = {"text": torch.randn(64, 12, dtype=torch.float64)}
    ht = {"text": hs["text"] @ torch.randn(12, 12, dtype=torch.float64) * 0.5}
    out = {"text": 3}
    for orient in ("sign", "rotate"):
        tied = TensorAlignment({"text": 12}, {"text": 12}, out, orient=orient, tie=True)
        untied = TensorAlignment({"text": 12}, {"text": 12}, out, orient=orient, tie=False)
        tied.update(hs, ht)
        untied.update(hs, ht)
        u = untied.projection("text", "source").detach()
        shared = tied.projection("text", "target").detach()
        assert not torch.allclose(u, untied.projection("text", "target"), atol=1e-3)
        torch.testing.assert_close(span(shared), span(u))
        if orient == "sign":
            torch.testing.assert_close(shared, u)

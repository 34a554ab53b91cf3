"""TAL options beyond the paper's text: orientation by rotation, tying, standardisation."""

import torch

from osan.alignment.tal import TensorAlignment

DIMS = {"text": 12, "vision": 5, "audio": 4}
OUT = {"text": 3, "vision": 2, "audio": 2}


def planted(b=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = {m: torch.randn(b, 2, generator=g, dtype=torch.float64) for m in DIMS}
    hs = {
        m: z[m] @ torch.randn(2, d, generator=g, dtype=torch.float64)
        + 0.3 * torch.randn(b, d, generator=g, dtype=torch.float64)
        for m, d in DIMS.items()
    }
    ht = {
        m: z[m] @ torch.randn(2, d, generator=g, dtype=torch.float64)
        + 0.3 * torch.randn(b, d, generator=g, dtype=torch.float64)
        for m, d in DIMS.items()
    }
    return hs, ht


def span(u):
    """Orthogonal projector onto the column space of u. Shape: (I, D) -> (I, I)"""
    q, _ = torch.linalg.qr(u)
    return q @ q.T


def test_rotation_finds_the_same_subspaces_and_moves_less():
    """Eq. (2)'s statistics are invariant when U^(k), V^(k) turn by one orthogonal R_k, so
    orienting by rotation changes the coordinates inside each fitted subspace, never the
    subspace; and it keeps them closer to the previous step's."""
    tals = {o: TensorAlignment(DIMS, DIMS, OUT, momentum=0.9, orient=o) for o in ("sign", "rotate")}
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


def test_tie_copies_source_projection_where_dims_agree():
    tdims = {"text": 12, "vision": 7, "audio": 4}
    tal = TensorAlignment(DIMS, tdims, OUT, momentum=None)
    hs, _ = planted()
    ht = {m: torch.randn(64, d, dtype=torch.float64) for m, d in tdims.items()}
    tal.update(hs, ht)
    assert sorted(tal.tie_target_to_source()) == ["audio", "text"]
    for m in ("text", "audio"):
        assert torch.equal(tal.projection(m, "source"), tal.projection(m, "target"))
    assert not torch.equal(
        tal.projection("vision", "target")[:5], tal.projection("vision", "source")
    )


def test_standardize_gives_unit_variance_in_training_and_uses_running_stats_in_eval():
    tal = TensorAlignment(DIMS, DIMS, OUT, momentum=None, append_one=False, standardize=True)
    hs, ht = planted()
    tal.update(hs, ht)
    scaled = {m: 50.0 * x for m, x in hs.items()}
    tal.train()
    out = tal.project(scaled, "source")
    modes = tal.project_modes(scaled, "source")
    assert float(modes["text"].std(0).max()) > 10  # raw projections are far from unit variance
    # the standardised per-mode factors have unit variance, so products stay O(1)
    assert float(out.abs().max()) < 50
    tal.eval()
    before = tal.project(hs, "source")
    assert torch.isfinite(before).all()
    # eval does not update the running estimates
    again = tal.project(hs, "source")
    assert torch.equal(before, again)


def test_orthonormal_output_projects_onto_the_same_subspace_without_amplification():
    tal = TensorAlignment(DIMS, DIMS, OUT, momentum=None)
    hs, ht = planted()
    tal.update(hs, ht)
    whitened = tal.project_modes(hs, "source")
    tal.orthonormal_output = True
    ortho = tal.project_modes(hs, "source")
    for m in OUT:
        x = hs[m] - tal.running_mean(m, "source")
        # an orthonormal basis never lengthens a vector ...
        assert bool((ortho[m].norm(dim=1) <= x.norm(dim=1) + 1e-9).all())
        # ... and spans the fitted subspace: both codes are invertible linear maps of each other
        sol = torch.linalg.lstsq(ortho[m], whitened[m]).solution
        assert torch.allclose(ortho[m] @ sol, whitened[m], atol=1e-6)


def test_gradient_solver_learns_u_and_v_by_backprop():
    """solver="gradient": U/V are parameters; the correlation objective moves them (and a
    closed-form update still sets them, e.g. as the initialisation)."""
    tal = TensorAlignment(DIMS, DIMS, OUT, momentum=None, solver="gradient")
    params = dict(tal.named_parameters())
    assert {f"U_{m}" for m in OUT} | {f"V_{m}" for m in OUT} == set(params)
    hs, ht = planted()
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
    assert list(TensorAlignment(DIMS, DIMS, OUT).parameters()) == []


def test_tie_shares_one_projection_where_dims_agree():
    tdims = {"text": 12, "vision": 7, "audio": 4}
    tal = TensorAlignment(DIMS, tdims, OUT, solver="gradient", tie=True)
    assert tal.projection("text", "target") is tal.projection("text", "source")
    assert tal.projection("vision", "target") is not tal.projection("vision", "source")


def test_a_tied_update_writes_the_source_side_solution_into_the_shared_projection():
    """With one modality nothing couples the modes, so a tied update must leave exactly the
    untied update's source-side U in the shared projection (not the target-side V)."""
    torch.manual_seed(0)
    hs = {"text": torch.randn(64, 12, dtype=torch.float64)}
    ht = {"text": hs["text"] @ torch.randn(12, 12, dtype=torch.float64) * 0.5}
    out = {"text": 3}
    tied = TensorAlignment({"text": 12}, {"text": 12}, out, solver="gradient", tie=True)
    untied = TensorAlignment({"text": 12}, {"text": 12}, out, solver="gradient", tie=False)
    tied.update(hs, ht)
    untied.update(hs, ht)
    u = untied.projection("text", "source")
    assert not torch.allclose(u, untied.projection("text", "target"), atol=1e-3)
    torch.testing.assert_close(tied.projection("text", "target"), u)

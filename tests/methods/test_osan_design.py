"""OSAN's design choices that decide whether it transfers (docs/method.md, "OSAN as built"):
the residual gated fusion, the reversal after DDG, the dropout-free target forward, CDAN's
conditioning and OSAN+'s self-training term."""

from copy import deepcopy
from dataclasses import replace

import pytest
import torch

import osan.methods.osan as osan_module
from osan.bench.suites import variants
from osan.methods import build_method
from osan.nn.modes import no_dropout
from osan.train.trainer import describe_dims
from osan.types import StepOutput
from tests.methods.test_baselines import batches, cfg_for, train_steps


def _osan(*extra, method="osan", seed=0):
    src, tgt, s, t = batches(n=48)
    cfg = cfg_for(method, *extra, seed=seed)
    return build_method(cfg, describe_dims(src, tgt), 1).train(), cfg, s, t


def test_residual_fusion_reads_embeddings_and_a_gated_tal_block():
    m, _, s, _ = _osan()
    e = sum(m.embed_dims.values())
    assert m.feature_dim == e + m.tal.out_dim
    f = m.features(s, "source")
    assert f.shape == (s.size, e + m.tal.out_dim)
    assert torch.all(f[:, e:] == 0)  # the gate starts at 0: TAL adds nothing yet
    with torch.no_grad():
        m.tal_gate.fill_(0.5)
        h = m.encoder(s, "source")
        f, a = m.represent(h, "source")
        emb = m.embed_norm(torch.cat([h[k] for k in m.modalities], dim=-1))  # (B, Σ E_m)
        tal = m.tal_norm(m.tal.project(h, "source"))  # (B, T)
    torch.testing.assert_close(f, torch.cat([emb, 0.5 * tal], dim=-1))
    torch.testing.assert_close(a, tal)  # the domain losses align the ungated TAL block


def test_at_gate_zero_predictions_do_not_depend_on_tal_and_the_gate_learns():
    m, cfg, s, t = _osan()
    m.eval()
    before = m.predict(s, "source")
    with torch.no_grad():
        for p in m.tal.parameters():
            p.add_(torch.randn_like(p))
    torch.testing.assert_close(m.predict(s, "source"), before)
    m.train()
    train_steps(m, cfg, s, t, 3)
    assert float(m.tal_gate.detach()) != 0.0


def _generator_grads(monkeypatch, reversed_):
    torch.manual_seed(0)  # the same initial weights for both builds
    m, _, _, _ = _osan(seed=3)
    m.eval()  # no dropout: both builds compute the same forward values
    if not reversed_:
        monkeypatch.setattr(osan_module, "grad_reverse", lambda x, coeff: x)
    f_s, f_t = torch.randn(16, m.adv_dim), torch.randn(16, m.adv_dim)
    loss = m.adversarial_loss(f_s, f_t, torch.arange(16), progress=1.0)
    loss.backward()
    monkeypatch.undo()
    return loss.detach(), [p.grad.clone() for p in m.generator.parameters() if p.grad is not None]


def test_reversal_after_ddg_trains_its_gates_against_the_discriminator(monkeypatch):
    """The reversal sits between DDG and the discriminator: DDG's gates get minus the GRL
    coefficient times the gradient that would help the discriminator (same loss value)."""
    loss_rev, rev = _generator_grads(monkeypatch, True)
    loss_plain, plain = _generator_grads(monkeypatch, False)
    torch.testing.assert_close(loss_rev, loss_plain)  # same forward values
    assert rev and len(rev) == len(plain)
    coeff = 2.0 / (1.0 + torch.exp(torch.tensor(-10.0))) - 1.0  # grl_coeff(1.0)
    for a, b in zip(rev, plain, strict=True):
        assert b.abs().sum() > 0
        torch.testing.assert_close(a, -coeff * b)


def test_pseudo_labels_come_from_the_dropout_free_target_forward(monkeypatch):
    """The target predictions the step pairs with (and conditions on) are the head's output on
    the target batch with every dropout off, without gradient; the model stays in training."""
    m, _, s, t = _osan("encoder.dropout=0.5")
    twin = deepcopy(m)
    with torch.no_grad(), no_dropout(twin):
        want = twin.head(twin.features(t, "target"))  # (B,)
    seen = []
    real = m.pair
    monkeypatch.setattr(
        m, "pair", lambda h_s, h_t, pred_t, y: seen.append(pred_t) or real(h_s, h_t, pred_t, y)
    )
    for torch_seed in (1, 2):  # other dropout masks on the source branch: the same labels
        torch.manual_seed(torch_seed)
        m.training_step(s, t, 0.5)
    torch.testing.assert_close(seen[0], want)
    torch.testing.assert_close(seen[1], want)
    assert not seen[0].requires_grad and m.training and m.encoder.training


def test_osan_plus_adds_the_self_training_term_and_osan_does_not():
    plus, _, s, t = _osan(method="osan-plus")
    out = plus.training_step(s, t, 0.5)
    assert "st" in out.logs and out.logs["st"] > 0
    osan, _, _, _ = _osan()
    assert "st" not in osan.training_step(s, t, 0.5).logs


def test_the_l_task_ablation_keeps_only_the_task_loss():
    (lt,) = [v for v in variants("ablation-losses", "msa") if v.name == "L_task"]
    m, _, s, t = _osan(*lt.overrides)
    assert set(m.training_step(s, t, 0.5).logs) == {"task", "total", "tal_gate"}


def test_the_domain_losses_read_the_ungated_tal_block_while_the_head_reads_both():
    m, _, s, _ = _osan()
    assert m.align_dim == m.tal.out_dim < m.feature_dim
    f, a = m.represent(m.encoder(s, "source"), "source")
    assert f.shape[1] == m.feature_dim and a.shape[1] == m.tal.out_dim
    assert a.abs().sum() > 0  # not gated: alignment acts from the first step
    assert m.discriminator.net[0].in_features == m.adv_dim == m.cfg.loss.condition_dim
    plain, _, _, _ = _osan("loss.condition=none")
    assert plain.discriminator.net[0].in_features == plain.adv_dim == plain.tal.out_dim


def test_the_step_hands_tal_rows_to_on_step_end_and_keeps_nothing_on_the_method():
    """``training_step`` returns the detached pairs TAL's update reads; ``on_step_end`` updates
    from what it is given (nothing is stashed on the module between the two calls)."""
    m, _, s, t = _osan("tal.solver=closed_form")
    before = vars(m).copy()
    out = m.training_step(s, t, 0.5)
    changed = {k for k, v in vars(m).items() if k not in before or v is not before[k]}
    assert changed == set()  # no attribute of the method was set by the step
    h_s, h_t = out.tal_rows
    assert set(h_s) == set(h_t) == set(m.modalities)
    assert all(not x.requires_grad and x.shape[0] == t.size for x in [*h_s.values(), *h_t.values()])
    m.on_step_end(replace(out, tal_rows=None))  # a step without rows: no update
    assert int(m.tal.num_updates) == 0
    seen = []
    m.on_step_end(out, gather=lambda x: seen.append(x) or x)
    assert int(m.tal.num_updates) == 1
    assert len(seen) == 2 * len(m.modalities)  # every row set went through ``gather``


def _fake_all_gather(shards):
    """A stand-in for ``DistContext.gather_rows`` over ranks whose TAL rows are ``shards``
    (one ``(h_s, h_t)`` per rank): given a rank's tensor, the same tensor of every rank, in rank
    order."""
    where = {
        id(x): (side, mod)
        for rows in shards
        for side, by_mod in enumerate(rows)
        for mod, x in by_mod.items()
    }

    def gather(x):
        side, mod = where[id(x)]
        return torch.cat([rows[side][mod] for rows in shards])

    return gather


def test_tal_update_on_gathered_rows_equals_one_process_update_on_the_whole_batch():
    """Under DDP, each rank's closed-form TAL update reads the all-gather of every rank's rows:
    with a stand-in gather over 2 ranks, each rank's TAL state equals one process's updated on
    the concatenated rows, after each of 2 updates (running statistics carried over); an update
    on the rank's own rows alone does not."""
    m, _, s, t = _osan("tal.solver=closed_form")
    whole = m.training_step(s, t, 0.5).tal_rows
    noise = torch.Generator().manual_seed(0)
    batches = [
        whole,
        tuple({k: x + torch.randn(x.shape, generator=noise) for k, x in h.items()} for h in whole),
    ]
    one, alone = deepcopy(m), deepcopy(m)
    ranks = [deepcopy(m) for _ in range(2)]
    half = t.size // 2
    for rows in batches:
        one.on_step_end(StepOutput(torch.zeros(()), tal_rows=rows))
        shards = [
            tuple({k: x[r * half : (r + 1) * half] for k, x in h.items()} for h in rows)
            for r in range(2)
        ]
        gather = _fake_all_gather(shards)
        for rank, own in zip(ranks, shards, strict=True):
            rank.on_step_end(StepOutput(torch.zeros(()), tal_rows=own), gather=gather)
        alone.on_step_end(StepOutput(torch.zeros(()), tal_rows=shards[0]))
        want = one.tal.state_dict()
        assert int(want["num_updates"]) >= 1
        for rank in ranks:
            got = rank.tal.state_dict()
            for k, v in want.items():
                torch.testing.assert_close(got[k], v, rtol=1e-12, atol=1e-12, msg=k)
        own_only = alone.tal.state_dict()
        assert not all(torch.allclose(own_only[k], v, atol=1e-4) for k, v in want.items())


def _target_embeddings(m, s, t, torch_seed):
    """The target branch's modality embeddings inside one training step (2nd encoder call)."""
    seen = []
    hook = m.encoder.register_forward_hook(lambda mod, args, out: seen.append(out))
    torch.manual_seed(torch_seed)
    try:
        m.training_step(s, t, 0.5)
    finally:
        hook.remove()
    return {k: v.detach() for k, v in seen[1].items()}


def test_the_target_forward_is_dropout_free_and_the_only_one(monkeypatch):
    """One target forward serves every loss: its embeddings do not move with the dropout
    masks, and the step makes no second, clean forward (``clean_predict``) of the target."""
    calls = []
    m, _, s, t = _osan("encoder.dropout=0.5")
    monkeypatch.setattr(
        m, "clean_predict", lambda *a, _f=m.clean_predict: calls.append(1) or _f(*a)
    )
    a, b = _target_embeddings(m, s, t, 1), _target_embeddings(m, s, t, 2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert m.encoder.training and all(x.training for x in m.modules() if x is not m)
    assert calls == []


def test_no_dropout_switches_dropout_alone_and_restores_it():
    from torch import nn

    from osan.nn.modes import no_dropout

    net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.LayerNorm(4))
    net[1].eval()  # a dropout layer already off stays off afterwards
    net2 = nn.Sequential(nn.Dropout(0.9))
    with no_dropout(net, net2):
        assert not net[1].training and not net2[0].training
        assert net.training and net[0].training and net[2].training
        x = torch.ones(3, 4)
        torch.testing.assert_close(net2(x), x)
    assert not net[1].training and net2[0].training


def _deterministic(*extra):
    """OSAN with every dropout off, so that a direct computation sees the step's values."""
    torch.manual_seed(0)
    m, cfg, s, t = _osan("encoder.dropout=0", *extra)
    with torch.no_grad():
        m.tal_gate.fill_(0.7)  # both blocks of the features non-zero
    m.head.net[1].p = 0.0  # the head's own dropout off: the source side is reproducible
    return m, cfg, s, t


def test_l_dis_is_mk_mmd_between_the_aligned_representations():
    from osan.alignment.mmd import mk_mmd

    m, cfg, s, t = _deterministic()
    with torch.no_grad():
        _, a_s = m.represent(m.encoder(s, "source"), "source")
        _, a_t = m.represent(m.encoder(t, "target"), "target")
        want = mk_mmd(
            a_s, a_t, num_kernels=cfg.loss.mmd_kernels, kernel_mul=cfg.loss.mmd_kernel_mul
        )
        got = m.training_step(s, t, 0.5).logs["dis"]
    assert float(want) > 0 and got == pytest.approx(float(want), abs=1e-5)


def test_cdan_condition_feeds_the_discriminator_the_multilinear_map_of_features_and_predictions():
    """The discriminator's hard-labelled rows are T(a, g) = (a R_f) ⊙ (g R_g) / √d of the
    aligned representation a and the prediction g (regression: a softmax over Gaussian
    kernels at the 7 bin centres of [-3, 3]), computed here directly as the multilinear sum
    T_j = Σ_i Σ_k a_i g_k R_f[i, j] R_g[k, j] / √d."""
    m, cfg, s, t = _deterministic("loss.condition_dim=32")
    assert m.discriminator.net[0].in_features == 32
    with torch.no_grad():
        f_s, a_s = m.represent(m.encoder(s, "source"), "source")
        f_t, a_t = m.represent(m.encoder(t, "target"), "target")
        pred = torch.cat([m.head(f_s), m.head(f_t)])  # (2B,)
    centres = torch.linspace(-3.0, 3.0, 7)
    g = torch.softmax(-0.5 * (pred[:, None] - centres) ** 2, dim=-1)  # bin width 1: (2B, 7)
    a = torch.cat([a_s, a_t])  # (2B, T)
    r_f, r_g = m.condition.r_f, m.condition.r_g  # (T, 32), (7, 32)
    want = torch.einsum("bi,bk,ij,kj->bj", a, g, r_f, r_g) / 32**0.5  # (2B, 32)
    seen = []
    hook = m.discriminator.register_forward_hook(lambda mod, args, out: seen.append(args[0]))
    with torch.no_grad():
        m.training_step(s, t, 0.5)
    hook.remove()
    torch.testing.assert_close(seen[0], want, rtol=1e-4, atol=1e-5)
    assert want.abs().sum() > 0
    plain, _, _, _ = _osan("loss.condition=none")
    assert plain.condition is None


def test_a_run_saved_before_loss_condition_reloads_as_it_was_trained(tmp_path):
    """A run folder whose config.yaml predates loss.condition (its default changed when it was
    added) reloads with the behaviour it was trained with; one saved with every key of its
    time, retired ones at the value whose behaviour was kept, loads as today's."""
    import yaml

    from osan.config import load_config
    from osan.train.run_folder import load_run
    from osan.train.trainer import fit
    from tests.helpers import toy_domains

    src, tgt = toy_domains(n=48)
    fit(
        cfg_for("osan", "loss.condition=none", "optim.epochs=1"), src, tgt, tmp_path, progress=False
    )
    path = tmp_path / "config.yaml"
    saved = yaml.safe_load(path.read_text())
    del saved["loss"]["condition"]
    saved["loss"]["target_dropout"] = False  # as every run saved before its retirement holds
    saved["tal"]["fusion"] = "residual"
    path.write_text(yaml.safe_dump(saved))
    assert load_config(path, saved=True).loss.condition == "none"
    cfg, method, _ = load_run(tmp_path)  # the checkpoint's weights fit the rebuilt model
    assert method.condition is None


def test_the_st_centre_setting_reaches_the_self_training_term(monkeypatch):
    seen = []
    real = osan_module.self_training_loss
    monkeypatch.setattr(
        osan_module,
        "self_training_loss",
        lambda *a: seen.append(a[-1]) or real(*a),
    )
    for extra in ((), ("loss.st_center=false",)):
        m, _, s, t = _osan(*extra, method="osan-plus")
        m.training_step(s, t, 0.5)
    # center of the target and source terms; the regression preset centres
    assert seen == [True] * 2 + [False] * 2


def _teachers(monkeypatch, *extra):
    """The (student, teacher) pairs the self-training term saw in one step of ``osan-plus``."""
    seen = []
    real = osan_module.self_training_loss
    monkeypatch.setattr(
        osan_module,
        "self_training_loss",
        lambda student, teacher, *a: seen.append((student, teacher)) or real(student, teacher, *a),
    )
    m, _, s, t = _osan(*extra, method="osan-plus")
    m.training_step(s, t, 0.5)
    return m, s, t, seen


def test_the_student_view_learns_the_clean_prediction(monkeypatch):
    """OSAN+'s teacher on the target is the clean (dropout-free) prediction, without gradient;
    the student is the prediction on a view with dropped time steps."""
    m, _, t, seen = _teachers(monkeypatch, "loss.st_mask=0.5")
    student, teacher = seen[0]  # the target's term (the source's follows: st_source)
    assert not teacher.requires_grad and student.requires_grad
    torch.testing.assert_close(teacher, m.clean_predict(t, "target"))
    assert not torch.allclose(teacher, student.detach())


def test_st_source_adds_the_term_on_the_source_batch(monkeypatch):
    """``loss.st_source=true``: the self-training term is also computed on the source batch
    (student on a dropped source view, teacher the clean source prediction), and the logged
    term is the mean of the target and source terms; with ``false``, only the target's."""
    values = []
    real = osan_module.self_training_loss
    monkeypatch.setattr(
        osan_module,
        "self_training_loss",
        lambda *a: values.append(real(*a).detach()) or values[-1],
    )
    m, _, s, t = _osan("loss.st_source=true", method="osan-plus")
    logged = m.training_step(s, t, 0.5).logs["st"]
    target, source = values
    assert logged == pytest.approx(float(target + source) / 2)
    assert float(source) > 0
    m, _, s, t = _osan("loss.st_source=false", method="osan-plus")
    assert m.training_step(s, t, 0.5).logs["st"] == pytest.approx(float(values[-1]))
    assert len(values) == 3
    m, s, _, seen = _teachers(monkeypatch, "loss.st_source=true")
    torch.testing.assert_close(seen[1][1], m.clean_predict(s, "source"))


def test_an_osan_plus_regression_config_saved_before_st_source_reloads_without_it(tmp_path):
    """OSAN+'s regression preset turned ``loss.st_source`` on in session 7; a saved
    config.yaml that predates the key reloads with the term off, as it was trained."""
    import yaml

    from osan.config import load_config, save_config

    cfg = cfg_for("osan-plus", "loss.st_source=false")
    assert cfg.task == "regression"
    path = tmp_path / "config.yaml"
    save_config(cfg, path)
    saved = yaml.safe_load(path.read_text())
    del saved["loss"]["st_source"]
    path.write_text(yaml.safe_dump(saved))
    assert load_config(path).loss.st_source  # a user's YAML: today's preset
    assert not load_config(path, saved=True).loss.st_source


def test_a_fixed_gate_keeps_the_tal_block_out_of_the_head_while_alignment_still_reads_it():
    """``tal.gate_trainable=false`` with ``gate_init=0``: after training steps the head still
    reads zeros in the TAL block, the gate is a buffer (no parameter), and the aligned
    representation is the live TAL block."""
    m, cfg, s, t = _osan("tal.gate_trainable=false")
    assert "tal_gate" not in dict(m.named_parameters())
    assert "tal_gate" in dict(m.named_buffers())
    train_steps(m, cfg, s, t, 3)
    e = sum(m.embed_dims.values())
    f, a = m.represent(m.encoder(s, "source"), "source")
    assert torch.all(f[:, e:] == 0)
    assert a.shape[1] == m.tal.out_dim and a.abs().sum() > 0
    learned, learned_cfg, _, _ = _osan()
    train_steps(learned, learned_cfg, s, t, 3)
    assert learned.tal_gate.item() != 0.0  # the default gate learns

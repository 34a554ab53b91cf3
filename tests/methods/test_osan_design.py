"""OSAN's design choices that decide whether it transfers (docs/method.md, "OSAN as built"):
the residual gated fusion, the reversal after DDG, dropout-free pseudo-labels, the label-shift
weights and OSAN+'s self-training term."""

from copy import deepcopy
from dataclasses import replace

import pytest
import torch

import osan.methods.osan as osan_module
from osan.bench.suites import variants
from osan.methods import build_method
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
    replace, _, _, _ = _osan("tal.fusion=replace")
    assert replace.feature_dim == replace.tal.out_dim


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


def _generator_grads(reverse):
    torch.manual_seed(0)  # same initial weights for both placements
    m, _, _, _ = _osan(f"ddg.reverse={reverse}", seed=3)
    m.eval()  # no dropout: both placements compute the same forward values
    f_s, f_t = torch.randn(16, m.adv_dim), torch.randn(16, m.adv_dim)
    loss = m.adversarial_loss(f_s, f_t, torch.arange(16), progress=1.0)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in m.generator.parameters() if p.grad is not None]


def test_reversal_after_ddg_trains_its_gates_against_the_discriminator():
    loss_after, after = _generator_grads("after")
    loss_before, before = _generator_grads("before")
    torch.testing.assert_close(loss_after, loss_before)  # same forward values
    assert after and len(after) == len(before)
    coeff = 2.0 / (1.0 + torch.exp(torch.tensor(-10.0))) - 1.0  # grl_coeff(1.0)
    for a, b in zip(after, before, strict=True):
        assert b.abs().sum() > 0
        torch.testing.assert_close(a, -coeff * b)


def test_pseudo_labels_are_dropout_free_and_leave_the_mode_alone():
    m, _, _, t = _osan("encoder.dropout=0.5")
    a, b = m.clean_predict(t, "target"), m.clean_predict(t, "target")
    torch.testing.assert_close(a, b)
    assert m.training and not a.requires_grad


def test_osan_plus_adds_the_self_training_term_and_osan_does_not():
    plus, _, s, t = _osan(method="osan-plus")
    out = plus.training_step(s, t, 0.5)
    assert "st" in out.logs and out.logs["st"] > 0
    osan, _, _, _ = _osan()
    assert "st" not in osan.training_step(s, t, 0.5).logs


def test_label_shift_weights_run_inside_the_step():
    m, _, s, t = _osan("loss.label_shift=iw")
    before = m.label_shift.target_freq.clone()
    m.training_step(s, t, 0.5)
    assert not torch.equal(before, m.label_shift.target_freq)


def test_the_l_task_ablation_keeps_only_the_task_loss():
    (lt,) = [v for v in variants("ablation-losses", "msa") if v.name == "L_task"]
    m, _, s, t = _osan(*lt.overrides)
    assert set(m.training_step(s, t, 0.5).logs) == {"task", "total", "tal_gate"}


def test_align_on_tal_aligns_the_ungated_tal_block_while_the_head_reads_both():
    m, _, s, _ = _osan("loss.align_on=tal")
    assert m.align_dim == m.tal.out_dim < m.feature_dim
    f, a = m.represent(m.encoder(s, "source"), "source")
    assert f.shape[1] == m.feature_dim and a.shape[1] == m.tal.out_dim
    assert a.abs().sum() > 0  # not gated: alignment acts from the first step
    assert m.discriminator.net[0].in_features == m.adv_dim == m.cfg.loss.condition_dim
    plain, _, _, _ = _osan("loss.align_on=tal", "loss.condition=none")
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


def test_shared_target_forward_is_dropout_free_and_replaces_the_second_forward(monkeypatch):
    calls = []
    for shared in (True, False):
        m, _, s, t = _osan("encoder.dropout=0.5", f"loss.target_dropout={not shared}")
        monkeypatch.setattr(
            m, "clean_predict", lambda *a, _f=m.clean_predict: calls.append(1) or _f(*a)
        )
        a, b = _target_embeddings(m, s, t, 1), _target_embeddings(m, s, t, 2)
        same = all(torch.equal(a[k], b[k]) for k in a)
        assert same == shared  # dropout masks move the target branch only when it has dropout
        assert m.encoder.training and all(x.training for x in m.modules() if x is not m)
        assert len(calls) == (0 if shared else 2)  # the second, clean forward: old path only


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


def test_mmd_on_chooses_what_l_dis_compares():
    from osan.alignment.mmd import mk_mmd

    values = {}
    for where in ("align", "features", "hidden"):
        torch.manual_seed(0)
        m, cfg, s, t = _osan(
            "encoder.dropout=0", f"loss.mmd_on={where}", "loss.target_dropout=false"
        )
        with torch.no_grad():
            m.tal_gate.fill_(0.7)  # both blocks of the features non-zero
            m.head.net[1].p = 0.0  # the head's own dropout off: the source side is reproducible
            f_s, a_s = m.represent(m.encoder(s, "source"), "source")
            f_t, a_t = m.represent(m.encoder(t, "target"), "target")
            want = {
                "align": (a_s, a_t),
                "features": (f_s, f_t),
                "hidden": (m.head.hidden(f_s), m.head.hidden(f_t)),
            }[where]
            expected = mk_mmd(
                *want, num_kernels=cfg.loss.mmd_kernels, kernel_mul=cfg.loss.mmd_kernel_mul
            )
            values[where] = m.training_step(s, t, 0.5).logs["dis"]
        assert abs(values[where] - float(expected)) < 1e-5, where
    assert len({round(v, 6) for v in values.values()}) == 3


def test_cdan_condition_feeds_the_discriminator_features_times_predictions():
    from osan.alignment.conditioning import prediction_condition

    g = prediction_condition(torch.tensor([-3.0, 0.1, 2.9]), "regression", bins=7)
    torch.testing.assert_close(g.sum(-1), torch.ones(3))
    assert g.argmax(-1).tolist() == [0, 3, 6]  # the bin nearest the score
    m, cfg, s, t = _osan("loss.condition=cdan", "loss.condition_dim=32")
    assert m.discriminator.net[0].in_features == 32
    seen = []
    hook = m.discriminator.register_forward_hook(lambda mod, args, out: seen.append(args[0]))
    out = m.training_step(s, t, 0.5)
    hook.remove()
    assert torch.isfinite(out.loss) and "adv" in out.logs
    assert seen[0].shape[-1] == 32
    plain, _, _, _ = _osan("loss.condition=none")
    assert plain.condition is None


def test_a_run_saved_before_the_session5_keys_reloads_as_it_was_trained(tmp_path):
    """A run folder whose config.yaml predates loss.condition / loss.target_dropout (their
    defaults changed when they were added) reloads with the behaviour it was trained with."""
    import yaml

    from osan.config import load_config
    from osan.train.run_folder import load_run
    from osan.train.trainer import fit
    from tests.helpers import toy_domains

    src, tgt = toy_domains(n=48)
    old = ("loss.condition=none", "loss.target_dropout=true", "optim.epochs=1")
    fit(cfg_for("osan", *old), src, tgt, tmp_path, progress=False)
    path = tmp_path / "config.yaml"
    saved = yaml.safe_load(path.read_text())
    del saved["loss"]["condition"], saved["loss"]["target_dropout"]
    path.write_text(yaml.safe_dump(saved))
    assert load_config(path).loss.condition == "cdan"  # a user's YAML: today's defaults
    cfg = load_config(path, saved=True)
    assert (cfg.loss.condition, cfg.loss.target_dropout) == ("none", True)
    cfg, method, _ = load_run(tmp_path)  # the checkpoint's weights fit the rebuilt model
    assert method.condition is None


def test_osan_plus_with_a_mean_teacher_learns_the_averaged_models_prediction(monkeypatch):
    """``loss.st_teacher=ema``: the student view's target is the clean prediction (eval mode,
    no gradient) of the running average of the weights, which follows the steps; the
    domain side (discriminator, DDG) is not averaged; ``osan-plus`` by default has none."""
    m, cfg, s, t = _osan("loss.st_teacher=ema", "loss.st_ema=0.9", method="osan-plus")
    assert m.ema is not None and not any(n.startswith("discriminator") for n in m.ema.names)
    assert _osan(method="osan-plus")[0].ema is None
    train_steps(m, cfg, s, t, 3)
    assert int(m.ema.updates) == 3
    weights = dict(m.named_parameters())
    assert not torch.equal(m.ema.average("head.net.4.weight"), weights["head.net.4.weight"])
    with m.ema.swapped(m):
        expected = m.clean_predict(t, "target")
    assert not torch.allclose(expected, m.clean_predict(t, "target"))  # not the model's own
    seen = []
    real = osan_module.self_training_loss
    monkeypatch.setattr(
        osan_module,
        "self_training_loss",
        lambda student, teacher, *a: seen.append(teacher) or real(student, teacher, *a),
    )
    with m.ema.swapped(m):
        expected_s = m.clean_predict(s, "source")
    m.training_step(s, t, 0.5)
    teacher, teacher_s = seen  # the regression preset also teaches the source (st_source)
    torch.testing.assert_close(teacher, expected)
    torch.testing.assert_close(teacher_s, expected_s)
    assert not teacher.requires_grad


def test_the_st_centre_and_scale_settings_reach_the_self_training_term(monkeypatch):
    seen = []
    real = osan_module.self_training_loss
    monkeypatch.setattr(
        osan_module,
        "self_training_loss",
        lambda *a: seen.append(a[-2:]) or real(*a),
    )
    for extra in (("loss.st_scale=true",), ("loss.st_center=false",)):
        m, _, s, t = _osan(*extra, method="osan-plus")
        m.training_step(s, t, 0.5)
    # (center, scale) of the target and source terms; the regression preset centres
    assert seen == [(True, True)] * 2 + [(False, False)] * 2


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


def test_with_dropped_views_the_teacher_is_a_second_dropped_view_not_the_clean_prediction(
    monkeypatch,
):
    """``loss.st_views=dropped`` (Π-model): the teacher is the model's prediction, without
    gradient, on its own dropped view; two draws differ from each other and from the clean
    prediction, so neither view has more signal than the other. The default teaches with the
    clean (dropout-free) prediction."""
    m, _, t, seen = _teachers(monkeypatch, "loss.st_views=dropped", "loss.st_mask=0.5")
    student, teacher = seen[0]  # the target's term (the source's follows: st_source)
    assert not teacher.requires_grad and student.requires_grad
    clean = m.clean_predict(t, "target")
    assert not torch.allclose(teacher, clean)
    assert not torch.allclose(teacher, student.detach())
    m, _, t, seen = _teachers(monkeypatch, "loss.st_mask=0.5")
    _, teacher = seen[0]
    torch.testing.assert_close(teacher, m.clean_predict(t, "target"))


def test_dropped_views_cannot_be_combined_with_a_mean_teacher():
    from osan.config import ConfigError

    with pytest.raises(ConfigError, match="st_views=dropped"):
        cfg_for("osan-plus", "loss.st_views=dropped", "loss.st_teacher=ema")


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
    del saved["loss"]["st_source"], saved["loss"]["st_views"]
    path.write_text(yaml.safe_dump(saved))
    assert load_config(path).loss.st_source  # a user's YAML: today's preset
    assert not load_config(path, saved=True).loss.st_source


def test_tal_head_dropout_drops_the_tal_block_the_head_reads_in_training_only():
    """``tal.head_dropout``: in training the TAL block of f is dropped element-wise (zeros,
    survivors scaled by 1/(1-p)); the embedding block and the aligned LN(TAL tensor) are as
    without it; in eval mode nothing is dropped."""
    m, cfg, s, _ = _osan("tal.head_dropout=0.5")
    with torch.no_grad():
        m.tal_gate.fill_(1.0)
    e = sum(m.embed_dims.values())
    h = {k: v.detach() for k, v in m.encoder(s, "source").items()}
    f, a = m.represent(h, "source")
    m.cfg = replace(cfg, tal=replace(cfg.tal, head_dropout=0.0))
    f0, a0 = m.represent(h, "source")
    torch.testing.assert_close(f[:, :e], f0[:, :e])
    torch.testing.assert_close(a, a0)  # alignment reads the undropped TAL tensor
    kept = f[:, e:] != 0
    assert 0.3 < kept.float().mean() < 0.7
    torch.testing.assert_close(f[:, e:][kept], 2 * f0[:, e:][kept])
    m.eval()
    eval0 = m.represent(h, "source")[0]
    m.cfg = cfg
    torch.testing.assert_close(m.represent(h, "source")[0], eval0)


def test_tal_detach_input_keeps_the_tal_blocks_gradient_out_of_the_encoders():
    """``tal.detach_input``: TAL reads the embeddings without gradient, so a loss on the TAL
    block of f reaches TAL's own parameters but not the encoders; by default it reaches both."""

    def grads(*extra):
        m, _, s, _ = _osan(*extra)
        with torch.no_grad():
            m.tal_gate.fill_(1.0)
        e = sum(m.embed_dims.values())
        f, _ = m.represent(m.encoder(s, "source"), "source")
        f[:, e:].pow(2).sum().backward()
        enc = [p.grad for p in m.encoder.parameters() if p.grad is not None]
        return sum(float(g.abs().sum()) for g in enc), float(m.tal_gate.grad.abs())

    enc, gate = grads()
    assert enc > 0 and gate > 0
    enc, gate = grads("tal.detach_input=true")
    assert enc == 0 and gate > 0


def test_tal_head_init_block_starts_the_embedding_block_as_direct_transfers_head():
    """``tal.head_init=block``: the head's first layer reads the embedding block with weights
    and bias on Direct Transfer's scale (U(±1/√Σ E_m)) and the TAL block on its own
    (U(±1/√T)); ``joint`` (default) draws every column on the joint fan-in's smaller scale."""
    joint, _, _, _ = _osan()
    block, _, s, _ = _osan("tal.head_init=block")
    e = sum(block.embed_dims.values())
    t = block.tal.out_dim
    for model, emb_bound, tal_bound in (
        (joint, (e + t) ** -0.5, (e + t) ** -0.5),
        (block, e**-0.5, t**-0.5),
    ):
        w = model.head.first_linear.weight
        assert w.shape[1] == e + t
        # a uniform draw of this many weights reaches past 90% of its bound, never past it
        for cols, bound in ((w[:, :e], emb_bound), (w[:, e:], tal_bound)):
            top = cols.abs().max().item()
            assert 0.9 * bound < top <= bound
        assert model.head.first_linear.bias.abs().max().item() <= emb_bound
    assert block.head.first_linear.bias.abs().max().item() > 0.9 * (e + t) ** -0.5
    f = block.features(s, "source")
    assert torch.all(f[:, e:] == 0)  # the gate still starts at 0: TAL adds nothing yet


def test_block_init_rejects_widths_that_do_not_cover_the_layer():
    layer = torch.nn.Linear(10, 4)
    with pytest.raises(ValueError, match="do not add up to 10"):
        osan_module.block_init(layer, [3, 4])


def test_a_fixed_gate_keeps_the_tal_block_out_of_the_head_while_alignment_still_reads_it():
    """``tal.gate_trainable=false`` with ``gate_init=0``: after training steps the head still
    reads zeros in the TAL block, the gate is a buffer (no parameter), and the aligned
    representation (``loss.align_on=tal``) is the live TAL block."""
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

# ruff: noqa: E501  (a table of cases reads best one case per line)
"""``osan train`` and ``osan train --resume`` on bad data, overrides, configs and run folders.

Each case: exit 2, one line naming the words it lists, nothing of the user's changed (see
:mod:`tests.bad_inputs.common`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import hostile as H
from tests.bad_inputs.common import (
    OVERSIZED_YAML,
    Table,
    _ckpt,
    _corrupt,
    _cut,
    _evil_ckpt,
    _wrong_weights,
    alias_bomb,
    check_bounded,
    check_in_process,
    train,
)

T = Table()
add = T.add


_TRAIN_OVERRIDES = [
    "optim.lr=-1", "optim.lr=0", "optim.lr=.nan", "optim.lr=[1, 2]", "optim.lr=abc",
    "encoder.dropout=2", "encoder.dropout=-0.1", "num_threads=-1", "num_threads=0",
    "ddg.heads=0", "ddg.heads=-3", "ddg.lam=1.5", "ddg.heads_per_step=-1", "ddg.kind=none",
    "ddg.assign=some", "optim.batch_size=1", "optim.epochs=0", "optim.warmup=2",
    "optim.weight_decay=-1", "optim.epoch=forever", "tal.eps=0", "tal.sweeps=0",
    "tal.solver=newton", "tal.pairing=oracle", "tal.orient=flip", "tal.momentum=2",
    "tal.out_dims={text: 0}", "encoder.out_dims={text: -1}", "encoder.kind=transformer",
    "encoder.hidden=0", "loss.task_loss=ce", "loss.alpha=-1", "loss.mmd_kernels=0",
    "selection=bogus", "selection=snd", "curve_every=-1", "seed=-5", f"seed={2**70}",
    "device=bogus", "device=cuda:x", "task=ranking", "nokey=1", "optim.nokey=1", "noequals",
    "optim=3", "tal.enabled=maybe", "baselines.pretrain_fraction=1",
]  # fmt: skip
for _o in _TRAIN_OVERRIDES:
    _key = "key=value" if "=" not in _o else _o.split("=")[0].split(".")[-1]
    add(f"train/override/{_o}", (lambda o: lambda w: train(w, over=(o,)))(_o), absent=("r",), expect=_key)  # fmt: skip
_TRAIN_ARGS: dict[tuple[str, ...], str] = {
    ("--device", "cuda"): "not available", ("--device", "cuda:7"): "not available",
    ("--device", "bogus"): "not of the form", ("--device", "mps"): "not available",
    ("--seed", str(2**64)): "seed must lie", ("--seed", "-1"): "seed must lie",
    ("--epochs", "0"): "optim.epochs must lie", ("--epochs", "-2"): "optim.epochs must lie",
    ("--epochs", "x"): "invalid int", ("--task", "ranking"): "invalid choice",
    ("--nan-policy", "drop"): "invalid choice", ("--nproc", "0"): "--nproc",
}  # fmt: skip
for _args, _exp in _TRAIN_ARGS.items():
    add(f"train/args/{' '.join(_args)}", (lambda a: lambda w: train(w, *a))(_args), absent=("r",), expect=_exp)  # fmt: skip
add("train/unknown-method", lambda w: train(w, method="magic"), absent=("r",), expect="unknown method")  # fmt: skip
add("train/method-empty", lambda w: train(w, method=""), absent=("r",), expect="not a method name")
add("train/oracle-unlabelled-target", lambda w: train(w, tgt=w.tgt_unl, method="oracle"), absent=("r",), expect="no labels")  # fmt: skip
add("train/unlabelled-source", lambda w: train(w, src=w.src_unl), absent=("r",), expect="no labels")  # fmt: skip
add("train/unlabelled-source-osan", lambda w: train(w, src=w.src_unl, method="osan"), absent=("r",), expect='no labels')  # fmt: skip
add("train/curve-unlabelled-target", lambda w: train(w, over=("curve_every=1",), tgt=w.tgt_unl), absent=("r",), expect="curve_every=1 plots")  # fmt: skip
add("train/modality-names-differ", lambda w: train(w, tgt=w.other_mods), absent=("r",), expect="pose")  # fmt: skip
add(
    "train/target-extra-modality",
    lambda w: train(w, tgt=w.mmsa("extra.pkl", lambda o: [
        o["meta"]["modalities"].append("pose"),
        *[o[s].update(pose=o[s]["audio"], pose_lengths=o[s]["audio_lengths"]) for s in ("train", "valid", "test")],
    ])),
    absent=("r",), expect="extra",
)  # fmt: skip
add(
    "train/source-missing",
    lambda w: train(w, src=w.case / "no.pkl"),
    absent=("r",),
    expect="file not found",
)
add(
    "train/target-fifo",
    lambda w: train(w, tgt=w.fifo("t.pkl")),
    absent=("r",),
    expect="not a regular file",
)
add("train/target-hostile", lambda w: train(w, tgt=w.file("h.pkl", H.os_system(str(w.marker)))), absent=("r",), expect="refused to unpickle 'os.system'")  # fmt: skip
add("train/out-is-file", lambda w: train(w, out=w.file("f", "keep")), expect="not a folder")
add(
    "train/out-under-file",
    lambda w: train(w, out=w.file("f", "keep") / "sub"),
    expect="Not a directory",
)
add("train/config-dir", lambda w: train(w, "--config", str(w.case)), absent=("r",), expect="directory")  # fmt: skip
add("train/config-missing", lambda w: train(w, "--config", str(w.case / "c.yaml")), absent=("r",), expect='config file not found')  # fmt: skip
add("train/config-invalid-yaml", lambda w: train(w, "--config", str(w.file("c.yaml", "optim: {lr: [1,\n  tal: :\n"))), absent=("r",), expect='invalid YAML')  # fmt: skip
add("train/config-list", lambda w: train(w, "--config", str(w.file("c.yaml", "- a\n"))), absent=("r",), expect='top level must be a mapping')  # fmt: skip
add("train/config-binary", lambda w: train(w, "--config", str(w.file("c.yaml", b"\xff\xfe\x00"))), absent=("r",), expect='not a text (UTF-8)')  # fmt: skip
add("train/config-unknown-key", lambda w: train(w, "--config", str(w.file("c.yaml", "optim: {speed: 3}\n"))), absent=("r",), expect='optim.speed')  # fmt: skip
add("train/config-bad-range", lambda w: train(w, "--config", str(w.file("c.yaml", "optim: {lr: -1}\n"))), absent=("r",), expect='optim.lr must lie')  # fmt: skip
add("train/config-int-key", lambda w: train(w, "--config", str(w.file("c.yaml", "1: 2\n"))), absent=("r",), expect="unknown config key(s) ['1']")  # fmt: skip
add(
    "train/config-fifo",
    lambda w: train(w, "--config", str(w.fifo("c.yaml"))),
    absent=("r",),
    expect="not a regular file",
)
add("train/classification-on-regression-data", lambda w: train(w, "--task", "classification"), absent=("r",), expect='holds regression labels')  # fmt: skip
add("train/no-source", lambda w: ["train", "--target", str(w.tgt), "--out", str(w.case / "r")], absent=("r",), expect='required: --source')  # fmt: skip
# resuming the finished shared run with something else is refused, naming the difference
add("resume/other-method", lambda w: train(w, "--resume", out=w.run, method="dann"), expect="method: run has")  # fmt: skip
add("resume/other-override", lambda w: train(w, "--resume", over=("optim.lr=0.5",), out=w.run), expect="optim.lr: run has 0.001, now 0.5")  # fmt: skip
add("resume/other-seed", lambda w: train(w, "--resume", "--seed", "9", out=w.run), expect="seed: run has 0, now 9")  # fmt: skip
add("resume/no-tal", lambda w: train(w, "--resume", "--no-tal", out=w.run), expect="tal.enabled: run has")  # fmt: skip
add("resume/other-target-data", lambda w: train(w, "--resume", tgt=w.tgt_unl, out=w.run), expect="target")  # fmt: skip
add("resume/other-target-dims", lambda w: train(w, "--resume", tgt=w.other_dims, out=w.run), expect="target")  # fmt: skip
add("resume/corrupt-checkpoint", lambda w: train(w, "--resume", out=_corrupt(w, "checkpoint.pt", b"garbage")), expect="checkpoint")  # fmt: skip
add("resume/empty-dict-checkpoint", lambda w: train(w, "--resume", out=_ckpt(w, {})), expect="not an osan checkpoint")  # fmt: skip
add("resume/invalid-config-yaml", lambda w: train(w, "--resume", out=_corrupt(w, "config.yaml", "optim: [\n")), expect="invalid YAML")  # fmt: skip
add(
    "resume/config-yaml-unknown-method",
    lambda w: train(w, "--resume", out=_corrupt(w, "config.yaml", "method: magic\n"), method=None),
    expect="unknown method",
)
add("resume/config-yaml-other-settings", lambda w: train(w, "--resume", out=_corrupt(w, "config.yaml", "method: dann\n")), expect="different run")  # fmt: skip


add("resume/wrong-weights", lambda w: train(w, "--resume", out=_wrong_weights(w)), expect="do not fit")  # fmt: skip
add("resume/evil-checkpoint", lambda w: train(w, "--resume", out=_evil_ckpt(w)), expect="checkpoint")  # fmt: skip
add(
    "train/out-unwritable",
    lambda w: train(w, out=Path("/proc/osan-out")),
    expect="/proc/osan-out: No such file",
)


# ---- issue 26: YAML configs that expand without bound, oversized or not files; cut run folders ----
add("train/config-alias-bomb", lambda w: train(w, "--config", str(w.file("c.yaml", alias_bomb()))), absent=("r",), expect="YAML alias *l0 refused")  # fmt: skip
add("train/config-one-alias", lambda w: train(w, "--config", str(w.file("c.yaml", "optim: &o {lr: 0.01}\nbaselines: *o\n"))), absent=("r",), expect="YAML alias *o refused")  # fmt: skip
add("train/config-over-1MiB", lambda w: train(w, "--config", str(w.file("c.yaml", OVERSIZED_YAML))), absent=("r",), expect="-byte limit for YAML")  # fmt: skip
add("train/config-dev-zero", lambda w: train(w, "--config", str(w.symlink("c.yaml", "/dev/zero"))), absent=("r",), expect="not a regular file")  # fmt: skip
add("train/override-alias", lambda w: train(w, over=("optim.lr=[&a [1, 2], *a]",)), absent=("r",), expect="YAML alias *a refused")  # fmt: skip
add("train/override-section-after-epochs", lambda w: train(w, "--epochs", "1", over=("optim=3",)), absent=("r",), expect="override 'optim=3': 'optim' is a section")  # fmt: skip
add("train/override-section-then-key", lambda w: train(w, over=("tal=1", "tal.eps=0.1")), absent=("r",), expect="override 'tal=1'")  # fmt: skip


add("resume/log-cut", lambda w: train(w, "--resume", out=_cut(w, "log.jsonl")), expect="shorter than the")  # fmt: skip
add("resume/log-empty", lambda w: train(w, "--resume", out=_cut(w, "log.jsonl", 0)), expect="log.jsonl: 0 bytes")  # fmt: skip
add("resume/fingerprint-cut", lambda w: train(w, "--resume", out=_cut(w, "fingerprint.json")), expect="fingerprint.json: truncated or corrupt")  # fmt: skip
add("resume/fingerprint-a-list", lambda w: train(w, "--resume", out=_corrupt(w, "fingerprint.json", "[1, 2]")), expect="fingerprint.json: truncated or corrupt")  # fmt: skip
add("resume/config-cut", lambda w: train(w, "--resume", out=_cut(w, "config.yaml", 0.3)), expect="config.yaml")  # fmt: skip
add("resume/config-alias-bomb", lambda w: train(w, "--resume", out=_corrupt(w, "config.yaml", alias_bomb())), expect="YAML alias *l0 refused")  # fmt: skip
add("resume/checkpoint-cut", lambda w: train(w, "--resume", out=_cut(w, "checkpoint.pt", 0.9)), expect="checkpoint")  # fmt: skip


@pytest.mark.parametrize("c", T.cases, ids=T.ids)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(c, w, capsys):
    check_in_process(c, w, capsys)


# The alias bomb again in a real process: refused before it expands (memory bounded).
B = Table()
B.add("train/config-alias-bomb", lambda w: train(w, "--config", str(w.file("c.yaml", alias_bomb()))), absent=("r",), expect="YAML alias *l0 refused")  # fmt: skip


@pytest.mark.parametrize("c", B.cases, ids=B.ids)
def test_bomb_in_a_real_process_stays_bounded(c, w):
    check_bounded(c, w)

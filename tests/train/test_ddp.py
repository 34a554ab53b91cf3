"""Data-parallel training: shards partition every global batch consistently for source and
target; two gloo processes reproduce a single process for a per-sample-mean loss, end close to it
for osan (stated tolerances), hold identical models (TAL included) on every rank, and only rank 0
writes the run's files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from osan.cli import main
from osan.config import load_config
from osan.data.domain import SplitLoader
from osan.data.mmsa import save_mmsa
from osan.methods import REGISTRY, register
from osan.train.distributed import DistContext, DistributedError, ShardedLoader
from osan.train.launch import launch, resolve_nproc
from osan.train.trainer import fit
from tests.helpers import TINY, toy_domains

METHODS = ("source-only", "osan")
#: run name -> (test method, extra overrides): osan with the default TAL solver, and with the
#: closed-form solver (TAL's update on the gathered rows at every step).
RUNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "source-only": ("source-only-nodrop", ()),
    "osan": ("osan-nodrop", ()),
    "osan-closed-form": ("osan-nodrop", ("tal.solver=closed_form",)),
}


def without_dropout(name: str):
    """``name`` with every dropout at 0 (heads and discriminators have no config knob), so that
    single-process and DDP runs draw no random masks: what remains is the arithmetic."""

    def build(cfg, dims, num_outputs):
        method = REGISTRY[name](cfg, dims, num_outputs)
        for module in method.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        return method

    return build


def register_test_methods() -> list[str]:
    names = [f"{m}-nodrop" for m in METHODS]
    for m, name in zip(METHODS, names, strict=True):
        register(name, without_dropout(m))
    return names


def fit_runs(out: Path, runs: tuple[str, ...] = tuple(RUNS)) -> dict[str, dict]:
    src, tgt = toy_domains(n=96)
    return {
        run: fit(cfg_for(RUNS[run][0], *RUNS[run][1]), src, tgt, out / run, progress=False)
        for run in runs
    }


def cfg_for(method: str, *extra: str):
    return load_config(overrides=[*TINY, "encoder.dropout=0", *extra], method=method, seed=3)


def test_shards_partition_every_global_batch_for_source_and_target():
    src, tgt = toy_domains(n=96)
    for split, seed in ((src.split("train"), 3), (tgt.split("train").without_labels(), 4)):
        full = SplitLoader(split, 16, shuffle=True, drop_last=True, seed=seed)
        shards = [
            ShardedLoader(SplitLoader(split, 16, shuffle=True, drop_last=True, seed=seed), r, 2)
            for r in range(2)
        ]
        assert all(len(s) == len(full) == 6 for s in shards) and shards[0].batch_size == 8
        for _epoch in range(2):  # the order reshuffles each epoch, identically on every rank
            for whole, *parts in zip(full, *shards, strict=True):
                assert torch.equal(torch.cat([p.index for p in parts]), whole.index)
                for m, x in whole.features.items():
                    assert torch.equal(torch.cat([p.features[m] for p in parts]), x)
                assert (whole.label is None) == all(p.label is None for p in parts)
    assert DistContext().shard(full) is full  # no process group: the loader itself
    with pytest.raises(DistributedError, match="divisible"):
        ShardedLoader(full, 0, 3)


def test_nproc_resolution_explains_what_to_pass(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    cfg = cfg_for("source-only")  # global batch 16
    assert resolve_nproc(True, 2, cfg) == 2
    with pytest.raises(DistributedError, match="pass --nproc N .* torchrun"):
        resolve_nproc(True, None, cfg)
    with pytest.raises(DistributedError, match="--nproc needs --ddp"):
        resolve_nproc(False, 2, cfg)
    with pytest.raises(DistributedError, match="at least 2"):
        resolve_nproc(True, 1, cfg)
    with pytest.raises(DistributedError, match="batch_size=16 .* divisible .* \\(3\\)"):
        resolve_nproc(True, 3, cfg)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert resolve_nproc(True, None, cfg) == 2
    with pytest.raises(DistributedError, match="add --ddp"):
        resolve_nproc(False, None, cfg)


#: How close osan under DDP (2 ranks) ends to one process with the same seed (see the test).
OSAN_TASK_LOSS_TOL = 0.1
OSAN_MAE_TOL = 0.05


def _epoch_records(run: Path) -> list[dict]:
    records = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    return [r for r in records if r["event"] == "epoch"]


def _rank_worker(out: str) -> None:
    """One rank: train each test method, then write what this rank ended with."""
    import torch.distributed as dist

    register_test_methods()
    result = fit_runs(Path(out))
    (Path(out) / f"rank{dist.get_rank()}.json").write_text(json.dumps(result))


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_and_only_rank0_writes(tmp_path):
    names = register_test_methods()
    try:
        single = fit_runs(tmp_path / "single")
    finally:
        for n in names:
            REGISTRY.pop(n)
    launch(_rank_worker, (str(tmp_path / "ddp"),), nproc=2, device="cpu")
    ranks = [json.loads((tmp_path / "ddp" / f"rank{r}.json").read_text()) for r in range(2)]

    for n in RUNS:
        # every rank ends with the same model, TAL's projections and running estimates included
        assert ranks[0][n]["target"] == ranks[1][n]["target"], n
        assert ranks[0][n]["source"] == ranks[1][n]["source"], n
    # a per-sample-mean loss: the global batch split over 2 ranks = the single process
    so = "source-only"
    for domain in ("target", "source"):
        for k, v in single[so][domain].items():
            if isinstance(v, float):
                assert ranks[0][so][domain][k] == pytest.approx(v, abs=1e-5), (domain, k)
    # osan: per-rank MK-MMD / pairing / DDG / TAL correlation loss make it close to, not equal
    # to, one process (docs/performance.md measures by how much on msa). Here "close" is:
    # - the epoch means of the source task loss within OSAN_TASK_LOSS_TOL (measured: up to 0.07),
    # - the target test MAE within OSAN_MAE_TOL (measured: 0.013 and 0.001; one process's
    #   seed-to-seed sd on this data is about 0.05).
    for n in ("osan", "osan-closed-form"):
        task = {
            where: [r["train_task"] for r in _epoch_records(tmp_path / where / n)]
            for where in ("single", "ddp")
        }
        assert task["ddp"] == pytest.approx(task["single"], abs=OSAN_TASK_LOSS_TOL), n
        mae = ranks[0][n]["target"]["mae"]
        assert mae == pytest.approx(single[n]["target"]["mae"], abs=OSAN_MAE_TOL), n

    for n in RUNS:  # rank 0 wrote each file once; rank 1 wrote nothing
        run = tmp_path / "ddp" / n
        assert [r["epoch"] for r in _epoch_records(run)] == [0, 1]
        on_disk = json.loads((run / "metrics.json").read_text())
        assert on_disk["target"] == ranks[0][n]["target"]
        assert (run / "checkpoint.pt").exists() and (run / "config.yaml").exists()


@pytest.mark.slow
def test_cli_train_ddp_spawns_ranks_and_reports_bad_commands(tmp_path, capsys):
    src, tgt = toy_domains(n=64)
    save_mmsa(src, tmp_path / "s.pkl")
    save_mmsa(tgt, tmp_path / "t.pkl")
    base = ["train", "--source", str(tmp_path / "s.pkl"), "--target", str(tmp_path / "t.pkl"),
            "--quiet", "--epochs", "1", *TINY]  # fmt: skip

    assert main([*base, "--out", str(tmp_path / "bad"), "--ddp"]) == 2
    assert "pass --nproc N" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "bad"), "--ddp", "--nproc", "3"]) == 2
    assert "divisible" in capsys.readouterr().err
    assert not (tmp_path / "bad" / "checkpoint.pt").exists()

    run = tmp_path / "run"
    assert main([*base, "--out", str(run), "--ddp", "--nproc", "2"]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((run / "metrics.json").read_text())
    assert f"mae={metrics['target']['mae']:.4f}" in out
    assert (run / "checkpoint.pt").exists()

"""Executors of ``osan bench``: every pending run is executed once and reported once, results are
written by the driver only, a Ray suite gives the local executor's results for the same seeds,
and a worker killed mid-run is retried (resuming its checkpoint) or reported, never dropped."""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path

import pytest

from osan.bench import executors as E
from osan.bench.cli import add_bench_parser, cmd_bench
from osan.bench.executors import LocalExecutor, RunOutcome, RunTask, execute_run
from osan.bench.runner import RESULTS, _can_resume, load_results
from osan.config import load_config
from osan.train.trainer import fit
from tests.helpers import TINY, toy_domains

FAST = [*TINY, "optim.epochs=1"]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="osan")
    add_bench_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["bench", *argv])


def suite_args(out: Path, *extra: str) -> argparse.Namespace:
    return parse(
        "--suite", "msa-main", "--out", str(out), "--seeds", "1",
        "--methods", "source-only", "osan", *extra, *FAST,
    )  # fmt: skip


@pytest.fixture(scope="module")
def toy_data():
    src, tgt = toy_domains(seed=0, n=64)
    data = {"A2B": (src, tgt), "B2A": (tgt, src)}
    return lambda benchmark: data


def comparable(record: dict) -> dict:
    """What must not depend on where a run executed."""
    keys = ("metrics", "source_metrics", "best_epoch", "settings_hash", "resumed", "data")
    return {k: record[k] for k in keys}


def task(run_id: str, direction: str, tmp_path: Path) -> RunTask:
    cfg = load_config(overrides=FAST, method="source-only", seed=1)
    return RunTask(run_id, "msa", direction, cfg, tmp_path / run_id)


# --------------------------------------------------------------------------- local, errors


def test_local_executor_reports_each_task_once_in_order_and_loads_data_once(tmp_path):
    loads: list[str] = []
    domains = toy_domains(n=16)

    def data_fn(benchmark: str):
        loads.append(benchmark)
        return {"A2B": domains, "B2A": domains[::-1]}

    def work(t: RunTask, source, target) -> RunOutcome:
        if t.run_id == "b":
            raise KeyboardInterrupt  # must reach the caller (exit 130), not become a failure
        return RunOutcome(t.run_id, {"mae": 1.0}, None, 0.0, False)

    tasks = [task("a1", "A2B", tmp_path), task("a2", "B2A", tmp_path)]
    done: list[str] = []
    started: list[str] = []
    LocalExecutor().run(tasks, data_fn, work, lambda o: done.append(o.run_id), started.append)
    assert done == ["a1", "a2"] and [t.run_id for t in started] == ["a1", "a2"]
    assert loads == ["msa"]
    with pytest.raises(KeyboardInterrupt):
        LocalExecutor().run([task("b", "A2B", tmp_path)], data_fn, work, done.append)


def test_execute_run_turns_an_exception_into_a_failed_outcome(tmp_path):
    def broken(*a, **k):
        raise ValueError("bad run")

    src, tgt = toy_domains(n=16)
    out = execute_run(
        task("x", "A2B", tmp_path), src, tgt, fit_fn=broken, can_resume=lambda d, c: False
    )
    assert out.metrics is None and out.error == "ValueError: bad run" and not out.resumed


def test_ray_executor_without_ray_exits_2_with_the_install_hint(tmp_path, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    assert cmd_bench(suite_args(tmp_path / "b", "--executor", "ray")) == 2
    assert "pip install 'osan[ray]'" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--ray-address", "10.0.0.1:6379"), "--ray-address needs --executor ray"),
        (("--executor", "ray", "--cpus-per-run", "0"), "--cpus-per-run must be positive"),
        (("--executor", "ray", "--gpus-per-run", "1"), "add --device cuda"),
    ],
)
def test_bad_executor_settings_exit_2_before_training(tmp_path, capsys, extra, message):
    def must_not_train(*a, **k):
        raise AssertionError("trained despite a bad command")

    assert cmd_bench(suite_args(tmp_path / "b", *extra), fit_fn=must_not_train) == 2
    assert message in capsys.readouterr().err


# --------------------------------------------------------------------------- ray


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster with 2 CPUs (embedded in this process, shut down afterwards)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_ray_suite_equals_the_local_suite_and_resumes(tmp_path, toy_data, ray_cluster):
    local_out, ray_out = tmp_path / "local", tmp_path / "ray"
    assert cmd_bench(suite_args(local_out), data_fn=toy_data) == 0
    assert cmd_bench(suite_args(ray_out, "--executor", "ray"), data_fn=toy_data) == 0

    local = {r["run_id"]: r for r in load_results(local_out / RESULTS)}
    remote = {r["run_id"]: r for r in load_results(ray_out / RESULTS)}
    assert len(remote) == 4 and set(remote) == set(local)  # one line per run, none twice
    for run_id, r in local.items():
        assert comparable(remote[run_id]) == comparable(r), run_id
    assert (ray_out / "runs/msa/B2A/osan/seed1/metrics.json").exists()

    def must_not_train(*a, **k):
        raise AssertionError("a finished run was trained again")

    before = (ray_out / RESULTS).read_bytes()
    args = suite_args(ray_out, "--executor", "ray")
    assert cmd_bench(args, data_fn=toy_data, fit_fn=must_not_train) == 0
    assert (ray_out / RESULTS).read_bytes() == before


@pytest.mark.slow
def test_killed_ray_worker_is_retried_from_its_checkpoint_or_reported(tmp_path, ray_cluster):
    marker = tmp_path / "killed-once"

    def dies_after_one_epoch(cfg, source, target, run_dir, *, resume, progress):
        """The first attempt writes the epoch-1 checkpoint, then its process is killed."""
        if not marker.exists():
            marker.touch()
            fit(cfg, source, target, run_dir, resume=resume, progress=False, stop_after_epochs=1)
            os._exit(1)  # like kill -9 / out of memory: no exception, the worker is gone
        return fit(cfg, source, target, run_dir, resume=resume, progress=False)

    def always_dies(*a, **k):
        os._exit(1)

    cfg = load_config(overrides=TINY, method="source-only", seed=1)  # 2 epochs
    data = toy_domains(n=64)
    tasks = [RunTask("retried", "msa", "A2B", cfg, tmp_path / "retried")]
    outcomes: list[RunOutcome] = []

    def work_with(fit_fn):
        import functools

        return functools.partial(execute_run, fit_fn=fit_fn, can_resume=_can_resume)

    ex = E.RayExecutor(max_retries=1)
    ex.run(tasks, lambda b: {"A2B": data}, work_with(dies_after_one_epoch), outcomes.append)
    (ok,) = outcomes
    assert ok.error is None and ok.resumed  # the retry continued the killed attempt
    clean = fit(cfg, *data, tmp_path / "clean", progress=False)
    assert ok.metrics["target"] == clean["target"]

    outcomes.clear()
    dead = [RunTask("dead", "msa", "A2B", cfg, tmp_path / "dead")]
    ex.run(dead, lambda b: {"A2B": data}, work_with(always_dies), outcomes.append)
    (failed,) = outcomes
    assert failed.metrics is None and failed.run_id == "dead"
    assert "died" in failed.error.lower() or "crash" in failed.error.lower(), failed.error

"""``osan bench --suite shift-zoo``: every kind of the msa shift zoo is a built-in benchmark
(``msa-<kind>``) and a task of its own, through the tables and ``osan pool``."""

from __future__ import annotations

import json

import pytest

from osan.bench import suites as S
from osan.bench.spec import SpecError, describe_data, load_spec, parse_spec, provenance
from osan.cli import main
from osan.data.generators import SHIFT_KINDS
from tests.helpers import TINY, toy_domains

KINDS = list(SHIFT_KINDS)


def test_every_kind_is_a_builtin_benchmark_of_one_direction():
    assert [f"msa-{k}" for k in KINDS] == list(S.ZOO_BENCHMARKS)
    for kind in KINDS:
        spec = load_spec(f"msa-{kind}")
        assert spec.name == f"msa-{kind}" and spec.task == "regression" and spec.generated
        assert spec.domain("A").shift == "builtin" and spec.domain("B").shift == kind
        assert list(spec.directions) == ["A2B"]
        assert S.BENCHMARKS[f"msa-{kind}"] == spec
        data = describe_data(spec, size=0.5, seed=3)
        assert data["shift"] == {"B": kind} and data["seed"] == 3
        assert f"B = shift zoo kind {kind}" in provenance(data)
    assert "shift" not in describe_data(load_spec("msa"), size=0.5, seed=3)


def test_the_suite_plans_every_kind_seed_major():
    ids = [r.run_id for r in S.plan("shift-zoo", [1, 2], methods=["source-only", "oracle"])]
    assert ids == [
        f"msa-{kind}/A2B/{method}/seed{seed}"
        for seed in (1, 2)
        for kind in KINDS
        for method in ("source-only", "oracle")
    ]
    regression = [m for m in S.MAIN_METHODS if S.applies(m, "regression")]  # mcc: classification
    assert len(S.plan("shift-zoo", [1])) == len(KINDS) * len(regression)
    assert not any(r.variant.method == "mcc" for r in S.plan("shift-zoo", [1]))
    two = [r.run_id for r in S.plan("shift-zoo", [1], benchmarks=["msa-label", "msa-dims"])]
    assert {i.split("/")[0] for i in two} == {"msa-label", "msa-dims"}


def test_dry_run_lists_the_runs_with_the_quick_preset(tmp_path, capsys):
    out = tmp_path / "zoo"
    argv = ["bench", "--suite", "shift-zoo", "--quick", "--methods", "source-only", "oracle",
            "--seeds", "1", "2", "--data-seed", "4", "--out", str(out), "--dry-run",
            "num_threads=1"]  # fmt: skip
    assert main(argv) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("pending")]
    assert len(lines) == 2 * 2 * len(KINDS)
    assert lines[0].split()[1] == "msa-sensor/A2B/source-only/seed1"
    assert "optim.epochs=6" in lines[0] and lines[0].endswith("num_threads=1")
    assert not (out / "results.jsonl").exists()


@pytest.mark.parametrize(
    ("domain", "needle"),
    [
        ({"generate": "msa", "role": "target", "shift": "bogus"}, "shift 'bogus'"),
        ({"generate": "vtc", "role": "target", "shift": "label"}, "shift 'label'"),
        ({"path": "x.pkl", "shift": "label"}, "shift applies to generated domains only"),
    ],
)
def test_a_bad_shift_in_a_spec_is_one_line(domain, needle):
    raw = {"name": "z", "domains": {"A": {"generate": "msa", "role": "source"}, "B": domain}}
    with pytest.raises(SpecError, match=needle) as e:
        parse_spec(raw, origin="z.yaml")
    assert "\n" not in str(e.value)


def test_pool_treats_each_kind_as_its_own_task(tmp_path, capsys):
    """Two data draws of two kinds, trained for real on toy data: each kind is one task."""
    src, tgt = toy_domains(seed=0, n=64)
    toy = {b: {"A2B": (src, tgt)} for b in S.ZOO_BENCHMARKS}
    folders = []
    for data_seed in (0, 1):
        out = tmp_path / f"zoo{data_seed}"
        argv = ["bench", "--suite", "shift-zoo", "--benchmarks", "msa-sensor", "msa-label",
                "--methods", "source-only", "dan", "oracle", "--seeds", "1", "--data-seed",
                str(data_seed), "--out", str(out), *TINY, "optim.epochs=1"]  # fmt: skip
        from osan.bench.cli import cmd_bench
        from osan.cli.parser import build_parser

        args = build_parser().parse_args(argv)
        described = {b: describe_data(load_spec(b), size=0.5, seed=data_seed) for b in S.BENCHMARKS
                     if b.startswith("msa-")}  # fmt: skip
        assert cmd_bench(args, data_fn=toy.__getitem__, data_spec=described.__getitem__) == 0
        table = (out / "table.md").read_text()
        assert "## msa-sensor:" in table and "## msa-label:" in table
        folders.append(out)
    capsys.readouterr()
    pool = tmp_path / "pool"
    argv = ["pool", "--bench", *map(str, folders), "--method", "dan", "--out", str(pool)]
    assert main(argv) == 0
    doc = json.loads((pool / "pool.json").read_text())
    tasks = {(c["benchmark"], c["direction"]) for c in doc["comparisons"]}
    assert tasks == {("msa-sensor", "A2B"), ("msa-label", "A2B")}
    dt = [c for c in doc["comparisons"] if c["other"] == "source-only" and c["domain"] == "target"]
    assert "data seed 0" in (pool / "pool.md").read_text()
    assert len(dt) == 2 and all(c["n"] == 2 for c in dt)

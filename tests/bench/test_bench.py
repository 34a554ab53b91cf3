"""``osan bench``: suites expand to stable run ids, the runner is resumable and tolerant of a torn
results line, and the tables follow the paper's layout (mean ± std, bold best UDA, deltas)."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json

import pytest

from osan.bench import suites as S
from osan.bench.cli import add_bench_parser, cmd_bench
from osan.bench.runner import RESULTS, append_result, load_results
from osan.bench.tables import aggregate, fmt_delta, render_markdown, write_tables
from osan.config import load_config
from osan.config_base import RETIRED_OPTIONS
from osan.train.trainer import fit
from tests.helpers import TINY, toy_domains

#: The main suites' methods on a regression benchmark (MCC is classification only).
REGRESSION_METHODS = [m for m in S.MAIN_METHODS if S.applies(m, "regression")]

FAST = [*TINY, "optim.epochs=1"]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="osan")
    add_bench_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["bench", *argv])


@pytest.fixture(scope="module")
def toy_data():
    src, tgt = toy_domains(seed=0, n=64)
    data = {"A2B": (src, tgt), "B2A": (tgt, src)}
    return lambda benchmark: data


def test_run_ids_are_stable_and_readable():
    runs = S.plan("msa-main", [1, 2])
    ids = [r.run_id for r in runs]
    assert ids == [r.run_id for r in S.plan("msa-main", [1, 2])]
    assert len(ids) == len(set(ids)) == 2 * 2 * len(REGRESSION_METHODS)
    assert ids[0] == "msa/A2B/source-only/seed1"
    assert "msa/B2A/osan/seed2" in ids
    ddg = [r.run_id for r in S.plan("ablation-ddg", [1], benchmarks=["msa"])]
    assert ddg == [
        "ablation-ddg/A2B/H64-lam0.85/seed1",
        "ablation-ddg/A2B/H64-lam0.9/seed1",
        "ablation-ddg/A2B/H32-lam0.85/seed1",
        "ablation-ddg/A2B/H32-lam0.9/seed1",
    ]
    assert len(S.plan("msa-main", [1], quick=True)) == 2 * len(REGRESSION_METHODS)
    # MCC (classification only) is in the video-text suite, not in the sentiment one
    assert "vtc/news2show/mcc/seed1" in {r.run_id for r in S.plan("vtc-main", [1])}
    assert "mcc" in S.MAIN_METHODS and "mcc" not in REGRESSION_METHODS
    assert {r.variant.name for r in S.plan("ablation-modules", [1]) if r.variant.reference} == {
        "full"
    }
    with pytest.raises(ValueError, match="unknown method"):
        S.plan("msa-main", [1], methods=["nope"])


def test_suite_runs_end_to_end_then_skips_finished_runs(tmp_path, toy_data):
    out = tmp_path / "bench"
    args = parse(
        "--suite", "msa-main", "--out", str(out), "--seeds", "1",
        "--methods", "source-only", "osan", *FAST,
    )  # fmt: skip
    assert cmd_bench(args, data_fn=toy_data) == 0

    records = load_results(out / RESULTS)
    assert [r["run_id"] for r in records] == [
        "msa/A2B/source-only/seed1",
        "msa/A2B/osan/seed1",
        "msa/B2A/source-only/seed1",
        "msa/B2A/osan/seed1",
    ]
    r = records[1]
    assert {"run_id", "suite", "method", "variant", "direction", "seed", "metrics"} <= set(r)
    assert {"source_metrics", "wall_time_s", "config_hash", "uses_target_labels"} <= set(r)
    assert set(r["metrics"]) >= {"mae", "corr", "acc7", "acc2_has0", "f1_non0"}
    assert all(isinstance(v, float) for v in r["metrics"].values())
    assert (out / "runs/msa/A2B/osan/seed1/metrics.json").exists()

    md = (out / "table.md").read_text()
    assert "OSAN (TAL + DDG)" in md and "MAE ↓ (A→B)" in md and "**" in md
    rows = list(csv.DictReader((out / "table.csv").open()))
    assert [(x["direction"], x["method"]) for x in rows] == [
        ("A2B", "source-only"),
        ("A2B", "osan"),
        ("B2A", "source-only"),
        ("B2A", "osan"),
    ]
    assert float(rows[1]["mae_mean"]) == pytest.approx(r["metrics"]["mae"])

    def must_not_train(*a, **k):
        raise AssertionError("a finished run was trained again")

    before = (out / RESULTS).read_bytes()
    assert cmd_bench(args, data_fn=toy_data, fit_fn=must_not_train) == 0
    assert (out / RESULTS).read_bytes() == before

    # different settings in the same folder: refused before any training
    changed = parse(
        "--suite", "msa-main", "--out", str(out), "--seeds", "1",
        "--methods", "osan", *FAST, "optim.lr=0.01",
    )  # fmt: skip
    assert cmd_bench(changed, data_fn=toy_data, fit_fn=must_not_train) == 2

    # a results file written before issue 27 retired options: its settings hash covered them
    # at the values whose behaviour was kept; it still counts as the same settings
    records = [json.loads(x) for x in (out / RESULTS).read_text().splitlines()]
    for rec in records:
        cfg = load_config(out / "runs" / rec["run_id"] / "config.yaml", saved=True)
        d = {k: v for k, v in cfg.to_dict().items() if k not in ("device", "num_threads")}
        for key, kept in RETIRED_OPTIONS.items():
            section, name = key.split(".")
            d[section][name] = kept
        rec["settings_hash"] = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[
            :12
        ]
    (out / RESULTS).write_text("".join(json.dumps(r) + "\n" for r in records))
    assert cmd_bench(args, data_fn=toy_data, fit_fn=must_not_train) == 0


def test_interrupted_run_resumes_from_its_checkpoint(tmp_path, toy_data):
    out = tmp_path / "bench"
    args = parse(
        "--suite", "msa-main", "--out", str(out), "--seeds", "3",
        "--methods", "source-only", *TINY,
    )  # fmt: skip
    from osan.bench.cli import options_from_args
    from osan.bench.runner import build_config

    opts = options_from_args(args)
    run = S.plan("msa-main", [3], methods=["source-only"])[0]
    src, tgt = toy_data("msa")["A2B"]
    fit(build_config(run, opts), src, tgt, out / "runs" / run.run_id, stop_after_epochs=1,
        progress=False)  # fmt: skip

    calls = []

    def spy(*a, **k):
        calls.append(k["resume"])
        return fit(*a, **k)

    assert cmd_bench(args, data_fn=toy_data, fit_fn=spy) == 0
    assert calls == [True, False]  # A2B continued, B2A started fresh
    assert [r["resumed"] for r in load_results(out / RESULTS)] == [True, False]


def test_torn_last_line_is_dropped_and_appends_stay_clean(tmp_path):
    path = tmp_path / RESULTS
    good = {"run_id": "msa/A2B/osan/seed1", "metrics": {"mae": 0.7}}
    append_result(path, good)
    with open(path, "ab") as f:
        f.write(b'{"run_id": "msa/A2B/osan/se')  # a crash mid-write
    torn = path.read_bytes()
    assert load_results(path) == [good]  # a reader skips it and leaves the file alone
    assert path.read_bytes() == torn
    assert load_results(path, repair=True) == [good]  # the bench (under its lock) cuts it
    append_result(path, {**good, "run_id": "msa/B2A/osan/seed1"})
    assert [r["run_id"] for r in load_results(path)] == [
        "msa/A2B/osan/seed1",
        "msa/B2A/osan/seed1",
    ]


def test_failed_run_is_reported_and_retried(tmp_path, toy_data):
    out = tmp_path / "bench"
    args = parse(
        "--suite", "msa-main", "--out", str(out), "--seeds", "1",
        "--methods", "source-only", *FAST,
    )  # fmt: skip

    def broken(*a, **k):
        raise RuntimeError("boom")

    assert cmd_bench(args, data_fn=toy_data, fit_fn=broken) == 1
    assert not load_results(out / RESULTS)
    assert "boom" in (out / "failed.jsonl").read_text()
    assert "no finished runs" in (out / "table.md").read_text()


def test_real_text_without_label_files_exits_2_with_help(tmp_path, capsys):
    args = parse(
        "--suite", "real-text", "--out", str(tmp_path / "rt"),
        "--mosi", str(tmp_path / "missing_mosi.csv"),
        "--mosei", str(tmp_path / "missing_mosei.csv"),
    )  # fmt: skip
    assert cmd_bench(args) == 2
    err = capsys.readouterr().err
    assert "missing_mosi.csv" in err and "--mosi" in err and "--mosei" in err
    assert "pip install 'osan[text]'" in err
    assert not (tmp_path / "rt").exists()


# --------------------------------------------------------------------------- tables


def rec(method, seed, direction="A2B", **metrics):
    base = {
        "mae": 0.8,
        "corr": 0.7,
        "acc7": 0.40,
        "acc2_has0": 0.80,
        "acc2_non0": 0.81,
        "f1_has0": 0.79,
        "f1_non0": 0.80,
    }
    return {
        "run_id": f"msa/{direction}/{method}/seed{seed}",
        "suite": "msa-main",
        "benchmark": "msa",
        "task": "regression",
        "method": method,
        "variant": method,
        "label": S.METHOD_LABELS[method],
        "group": S.method_group(method),
        "reference": False,
        "direction": direction,
        "seed": seed,
        "metrics": {**base, **metrics},
        "uses_target_labels": method == "oracle",
    }


def test_main_table_mean_std_and_bold_only_among_uda(tmp_path):
    records = [
        rec("source-only", 1, mae=0.50),  # better than every UDA method: still not bold
        rec("source-only", 2, mae=0.50),
        rec("dan", 1, mae=0.80, corr=0.75),
        rec("dan", 2, mae=0.90, corr=0.75),
        rec("osan", 1, mae=0.60, corr=0.70),
        rec("osan", 2, mae=0.80, corr=0.70),
        rec("oracle", 1, mae=0.10, corr=0.99),
        rec("oracle", 2, mae=0.10, corr=0.99),
    ]
    md = render_markdown("msa-main", aggregate(records))
    rows = {line.split(" | ")[0].strip("| *"): line for line in md.splitlines()}
    assert "**0.700 ± 0.141**" in rows["OSAN (TAL + DDG)"]  # MAE: min, sample std
    assert "**0.750 ± 0.000**" in rows["DAN"]  # Corr: max
    assert "**" not in rows["Direct Transfer (source-only)"].replace("*Direct", "")[3:]
    oracle = next(v for k, v in rows.items() if k.startswith("Oracle"))
    assert "†" in oracle and "**" not in oracle
    assert md.index("Direct Transfer") < md.index("DAN") < md.index("OSAN") < md.index("Oracle")
    # Acc-2 shows has-0 / non-0 in %, with ties all bold
    assert "**80.00 ± 0.00** / **81.00 ± 0.00**" in rows["DAN"]

    write_tables(tmp_path, "msa-main", records)
    rows_csv = list(csv.DictReader((tmp_path / "table.csv").open()))
    assert [r["method"] for r in rows_csv] == ["source-only", "dan", "osan", "oracle"]
    osan = rows_csv[2]
    assert float(osan["mae_mean"]) == pytest.approx(0.7)
    assert float(osan["mae_std"]) == pytest.approx(0.141421, rel=1e-4)
    assert osan["n"] == "2" and rows_csv[3]["uses_target_labels"] == "True"
    assert json.loads((tmp_path / "summary.json").read_text())["suite"] == "msa-main"


def test_single_seed_shows_mean_only():
    md = render_markdown("msa-main", aggregate([rec("osan", 1, mae=0.7123)]))
    assert "**0.712**" in md and "±" not in md.split("\n\n", 2)[-1].split("Seeds")[0]


def test_ablation_table_is_deltas_against_the_full_model():
    variants = {v.name: v for v in S.variants("ablation-modules", "msa")}

    def arec(name, seed, **m):
        r = rec("osan", seed, **m)
        v = variants[name]
        return {
            **r,
            "run_id": f"ablation-modules/A2B/{name}/seed{seed}",
            "suite": "ablation-modules",
            "variant": name,
            "label": v.label,
            "reference": v.reference,
        }

    records = [
        arec("wo-DDG", 1, mae=0.752, acc7=0.3645),
        arec("full", 1, mae=0.713, acc7=0.40),
        arec("wo-TAL", 1, mae=0.713, acc7=0.40),
    ]
    md = render_markdown("ablation-modules", aggregate(records))
    header = next(line for line in md.splitlines() if line.startswith("| Module"))
    assert header.split(" | ")[1:] == ["OSAN (TAL + DDG) (full)", "w/o DDG", "w/o TAL |"]
    mae = next(line for line in md.splitlines() if line.startswith("| MAE"))
    assert mae == "| MAE ↓ | 0.713 | +0.039 | 0.000 |"
    acc7 = next(line for line in md.splitlines() if line.startswith("| Acc-7"))
    assert "| -3.55 |" in acc7
    acc2 = next(line for line in md.splitlines() if line.startswith("| Acc-2"))
    assert "80.00 / 81.00" in acc2 and "0.00/0.00" in acc2


@pytest.mark.parametrize(
    ("delta", "percent", "text"),
    [(0.039, False, "+0.039"), (-0.0355, True, "-3.55"), (1e-6, False, "0.000"), (None, True, "–")],
)
def test_delta_format(delta, percent, text):
    from osan.bench.tables import Column

    assert fmt_delta(delta, Column("x", ("x",), percent)) == text


def test_settings_hash_ignores_the_device():
    from osan.bench.runner import settings_hash
    from osan.config import load_config

    cpu, gpu = load_config(device="cpu"), load_config(device="cuda")
    assert cpu.hash() != gpu.hash()
    assert settings_hash(cpu) == settings_hash(gpu)
    assert settings_hash(cpu) != settings_hash(load_config(None, ["optim.lr=0.01"]))


def test_versus_table_says_whether_osan_beats_each_method_and_by_how_much(tmp_path):
    records = [
        rec("source-only", 1, mae=0.50, corr=0.60),
        rec("source-only", 2, mae=0.52, corr=0.60),
        rec("dan", 1, mae=0.90, corr=0.70),
        rec("dan", 2, mae=0.90, corr=0.72),
        rec("osan", 1, mae=0.70, corr=0.70),
        rec("osan", 2, mae=0.70, corr=0.70),
    ]
    write_tables(tmp_path, "msa-main", records)
    md = (tmp_path / "versus.md").read_text()
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in md.splitlines()}
    header = rows["vs"]
    dt, dan = rows["Direct Transfer (source-only)"], rows["DAN"]
    mae, corr = header.index("mae"), header.index("corr")
    # MAE: lower is better, so OSAN (0.70) vs Direct Transfer (0.51) is -0.190, a clear loss
    assert dt[mae] == "-0.190*" and dt[corr] == "+0.100*"
    assert dan[mae] == "+0.200*"  # OSAN's MAE is 0.2 lower than DAN's
    assert dan[corr] == "-0.010"  # within the seeds' spread: no mark
    assert dan[-1].strip(" |") == "1/7"  # wins MAE, loses Corr; equal accuracies are no win
    assert "Oracle" not in md  # no oracle runs here
    # no OSAN run: no versus table
    other = tmp_path / "other"
    assert write_tables(other, "msa-main", records[:4])[-1].name == "summary.json"
    assert not (other / "versus.md").exists()
    # OSAN+ gets its own versus file, OSAN among the methods it is compared with
    plus = tmp_path / "plus"
    write_tables(plus, "msa-main", [*records, rec("osan-plus", 1, mae=0.4, corr=0.8)])
    md_plus = (plus / "versus-osan-plus.md").read_text()
    assert "OSAN+" in md_plus.splitlines()[0]
    assert any(line.startswith("| OSAN (TAL + DDG) |") for line in md_plus.splitlines())

"""Benchmark specs: ``osan bench --suite main --data SPEC`` runs every method on the user's own
files (an MMSA pickle and a MulT pickle with different dims per modality), the ablation suites
take ``--data`` too, the built-in benchmarks are specs, and a bad spec is one line, exit 2."""

from __future__ import annotations

import argparse
import csv
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import yaml

from osan.bench import suites as S
from osan.bench.runner import RESULTS, load_results
from osan.bench.spec import BUILTIN, SpecError, from_files, load_spec
from osan.cli import main

#: The main suites' methods on a regression benchmark (MCC is classification only).
REGRESSION_METHODS = [m for m in S.MAIN_METHODS if S.applies(m, "regression")]

#: A test-only budget after --quick (user overrides come after the quick preset): the suite's
#: 18 runs end in seconds. --quick itself is unchanged.
TINY_BUDGET = [
    "optim.epochs=2",
    "optim.batch_size=16",
    "encoder.hidden=8",
    "encoder.out_dims={text: 8, vision: 4, audio: 4}",
    "tal.out_dims={text: 4, vision: 2, audio: 2}",
    "ddg.heads=4",
    "ddg.heads_per_step=2",
    "loss.disc_hidden=8",
    "optim.head_hidden=8",
    "baselines.ss_hidden=8",
    "baselines.mdmn_fusion_dim=8",
]
N = {"train": 24, "valid": 12, "test": 12}


def _seq(rng, n, length, dim, *, left=False):
    x = np.zeros((n, length, dim), dtype=np.float32)
    lens = rng.integers(2, length + 1, size=n)
    for i, k in enumerate(lens):
        rows = rng.normal(size=(k, dim)).astype(np.float32) + 0.1
        if left:
            x[i, length - k :] = rows
        else:
            x[i, :k] = rows
    return x, lens.astype(np.int64)


def write_mmsa(path: Path, dims: dict[str, int], seed: int = 0) -> Path:
    """An MMSA ``unaligned_50.pkl``-like file (MOSEI-like dims), lengths for audio/vision."""
    rng = np.random.default_rng(seed)
    obj = {}
    for s, n in N.items():
        d: dict = {}
        for m, dim in dims.items():
            d[m], lens = _seq(rng, n, 6, dim)
            if m != "text":
                d[f"{m}_lengths"] = lens
        d["regression_labels"] = np.round(rng.uniform(-3, 3, n), 1).astype(np.float32)
        d["raw_text"] = np.array([f"{s} utterance {i}" for i in range(n)], dtype=object)
        d["id"] = np.array([f"mosei_{s}_{i}" for i in range(n)], dtype=object)
        obj[s] = d
    path.write_bytes(pickle.dumps(obj, protocol=4))
    return path


def write_mult(path: Path, dims: dict[str, int], seed: int = 1) -> Path:
    """A MulT-style pickle (MOSI-like dims): ``labels`` (N, 1, 1), left padding, no lengths."""
    rng = np.random.default_rng(seed)
    obj = {}
    for s, n in N.items():
        d: dict = {m: _seq(rng, n, 5, dim, left=True)[0] for m, dim in dims.items()}
        d["labels"] = np.round(rng.uniform(-3, 3, (n, 1, 1)), 1).astype(np.float32)
        d["id"] = np.array([[f"mosi{i}".encode(), b"0"] for i in range(n)])
        obj[s] = d
    path.write_bytes(pickle.dumps(obj, protocol=4))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("specdata")
    return {
        "mosei": write_mmsa(root / "mosei.pkl", {"text": 12, "audio": 7, "vision": 5}),
        "mosi": write_mult(root / "mosi.pkl", {"text": 12, "audio": 3, "vision": 4}),
    }


def write_spec(path: Path, spec: dict) -> Path:
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def pair_spec(files: dict[str, Path], **extra) -> dict:
    return {
        "name": "tiny-cmu",
        "task": "regression",
        "domains": {
            "mosei": {"path": str(files["mosei"]), "label": "MOSEI-like"},
            "mosi": {"path": str(files["mosi"]), "label": "MOSI-like"},
        },
        "pairs": [["mosei", "mosi"], ["mosi", "mosei"]],
        **extra,
    }


def test_main_suite_on_a_spec_runs_every_method_end_to_end(tmp_path, files, capsys):
    spec = write_spec(tmp_path / "tiny.yaml", pair_spec(files))
    out = tmp_path / "bench"
    argv = ["bench", "--suite", "main", "--data", str(spec), "--out", str(out), "--quick"]
    assert main(argv) == 0  # --quick as users run it: the fixture is small enough
    records = load_results(out / RESULTS)
    assert len(records) == 2 * len(REGRESSION_METHODS)
    assert records[0]["run_id"] == "tiny-cmu/mosei2mosi/source-only/seed1"
    assert {r["direction"] for r in records} == {"mosei2mosi", "mosi2mosei"}
    data = records[0]["data"]
    assert data["benchmark"] == "tiny-cmu" and set(data["domains"]) == {"mosei", "mosi"}
    assert len(data["domains"]["mosei"]["sha256"]) == 12
    md = (out / "table.md").read_text()
    for method in REGRESSION_METHODS:
        assert S.METHOD_LABELS[method] in md
    # the provenance line: spec name and each file's short hash
    assert "Data: tiny-cmu" in md and data["domains"]["mosi"]["sha256"] in md
    assert "MOSEI-like → MOSI-like" in md and "MAE ↓ (mosei→mosi)" in md
    assert "Data: tiny-cmu" in (out / "versus.md").read_text()
    rows = list(csv.DictReader((out / "table.csv").open()))
    assert len(rows) == 2 * len(REGRESSION_METHODS) and rows[0]["data"].startswith("Data: tiny-cmu")
    # the dims differ per domain and were trained as they are
    from osan.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(out / "runs/tiny-cmu/mosei2mosi/osan/seed1/checkpoint.pt")
    assert ckpt["dims"] == {
        "source": {"text": 12, "audio": 7, "vision": 5},
        "target": {"text": 12, "audio": 3, "vision": 4},
    }
    # resumable: a second call trains nothing
    before = (out / RESULTS).read_bytes()
    assert main(argv) == 0
    assert (out / RESULTS).read_bytes() == before
    # an edited data file is a conflict, not a silent mix
    write_mmsa(files["mosei"], {"text": 12, "audio": 7, "vision": 5}, seed=5)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "different settings" in err
    write_mmsa(files["mosei"], {"text": 12, "audio": 7, "vision": 5})  # restore


def test_ablation_suite_on_a_spec(tmp_path, files):
    spec = write_spec(tmp_path / "tiny.yaml", pair_spec(files, ablation_pair=["mosi", "mosei"]))
    out = tmp_path / "abl"
    argv = ["bench", "--suite", "ablation-modules", "--data", str(spec), "--out", str(out),
            "--quick", *TINY_BUDGET]  # fmt: skip
    assert main(argv) == 0
    ids = [r["run_id"] for r in load_results(out / RESULTS)]
    assert ids == [f"ablation-modules/mosi2mosei/{v}/seed1" for v in
                   ("full", "wo-DDG", "wo-TAL", "wo-both")]  # fmt: skip
    md = (out / "table.md").read_text()
    assert "Data: tiny-cmu" in md and "MOSI-like → MOSEI-like (mosi→mosei)" in md
    header = next(x for x in md.splitlines() if x.startswith("| Module"))
    assert header.index("(full)") < header.index("w/o DDG") < header.index("w/o TAL")


def test_source_target_shortcut_plans_one_or_both_directions(tmp_path, files, capsys):
    out = tmp_path / "sc"
    base = ["bench", "--suite", "main", "--source", str(files["mosei"]), "--target",
            str(files["mosi"]), "--out", str(out), "--dry-run", "--seeds", "1"]  # fmt: skip
    assert main(base) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("pending")]
    assert len(lines) == len(REGRESSION_METHODS)
    assert "mosei-mosi/mosei2mosi/osan/seed1" in "\n".join(lines)
    assert main([*base, "--both-directions"]) == 0
    assert "mosei-mosi/mosi2mosei/" in capsys.readouterr().out
    spec = from_files(Path("a/MOSEI/unaligned_50.pkl"), Path("b/MOSI/unaligned_50.pkl"))
    assert spec.pairs == (("MOSEI", "MOSI"),)
    # the selection suite takes a spec too (--quick grid, every method but the oracle)
    spec_file = write_spec(tmp_path / "tiny.yaml", pair_spec(files))
    sel = ["bench", "--suite", "selection", "--data", str(spec_file), "--out", str(out),
           "--dry-run", "--quick"]  # fmt: skip
    assert main(sel) == 0
    text = capsys.readouterr().out
    assert "selection/mosei2mosi/dann-a0.1-lr0.001/seed1" in text and "/oracle" not in text


def test_builtin_benchmarks_are_specs_and_old_suite_names_keep_their_ids():
    for name in BUILTIN:
        load_spec(name)
    assert S.BENCHMARKS["msa"].directions == {
        "A2B": "MOSEI-like → MOSI-like",
        "B2A": "MOSI-like → MOSEI-like",
    }
    assert S.BENCHMARKS["cmu"].directions["MOSEI2MOSI"] == "CMU-MOSEI → CMU-MOSI"
    old = [r.run_id for r in S.plan("msa-main", [1])]
    new = [r.run_id for r in S.plan("main", [1], data=[load_spec("msa")])]
    assert old == new and old[0] == "msa/A2B/source-only/seed1"
    assert [r.run_id for r in S.plan("ablation-ddg", [1], data=[load_spec("vtc")])][0] == (
        "ablation-ddg/news2show/H128-lam0.9/seed1"
    )
    assert S.plan("real-text", [1])[0].run_id == "real-text/MOSEI2MOSI/source-only/seed1"
    shipped = load_spec(Path(__file__).resolve().parents[2] / "configs/benchmarks/cmu-mmsa.yaml")
    assert shipped.name == "cmu-mmsa" and list(shipped.directions) == ["mosei2mosi", "mosi2mosei"]


def _one_line_exit_2(capsys, argv, *parts):
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    for p in parts:
        assert p in err, (p, err)


def test_bad_specs_give_one_line_and_exit_2(tmp_path, files, capsys):
    out = str(tmp_path / "out")

    def run(spec: dict, name: str = "s.yaml") -> list[str]:
        path = write_spec(tmp_path / name, spec)
        return ["bench", "--suite", "main", "--data", str(path), "--out", out, "--quick"]

    # missing file
    bad = pair_spec(files)
    bad["domains"]["mosi"]["path"] = str(tmp_path / "nope.pkl")
    _one_line_exit_2(capsys, run(bad), "domain 'mosi'", "no such file", "nope.pkl")
    # unknown keys, top-level and per domain
    _one_line_exit_2(capsys, run(pair_spec(files, epochs=3)), "unknown key(s) ['epochs']")
    bad = pair_spec(files)
    bad["domains"]["mosi"]["dims"] = 5
    _one_line_exit_2(capsys, run(bad), "domain 'mosi'", "unknown key(s) ['dims']")
    # a pair naming no domain
    _one_line_exit_2(capsys, run(pair_spec(files, pairs=[["mosei", "x"]])), "unknown domain 'x'")
    # different modality names
    other = write_mmsa(tmp_path / "tl.pkl", {"text": 12, "layout": 4})
    bad = pair_spec(files)
    bad["domains"]["mosi"]["path"] = str(other)
    _one_line_exit_2(capsys, run(bad), "cannot be paired", "modalities", "layout")
    # task mismatch: a classification file in a regression spec
    from osan.data.generators import generate
    from osan.data.portable import save_portable

    save_portable(generate("vtc", seed=0, size="tiny")[0], tmp_path / "news.npz")
    bad = pair_spec(files)
    bad["domains"]["mosi"]["path"] = str(tmp_path / "news.npz")
    _one_line_exit_2(capsys, run(bad), "task mismatch", "classification")
    # not a spec at all
    _one_line_exit_2(capsys, ["bench", "--suite", "main", "--data", "nope.yaml", "--out", out],
                     "no such spec file")  # fmt: skip
    _one_line_exit_2(capsys, ["bench", "--suite", "main", "--out", out], "needs data")
    assert not Path(out).exists()
    with pytest.raises(SpecError):
        load_spec(write_spec(tmp_path / "x.yaml", {"name": "a b", "domains": {}}))


def test_selection_suite_and_osan_select_on_a_spec(tmp_path, files, capsys):
    """The selection suite runs on a spec, and ``osan select`` rebuilds the same files (found by
    their hashes) to score the runs without target labels."""
    from osan.bench.runner import BenchOptions, rebuild_data

    spec = write_spec(tmp_path / "tiny.yaml", pair_spec(files, pairs=[["mosei", "mosi"]]))
    out = tmp_path / "sel"
    assert main(["bench", "--suite", "selection", "--data", str(spec), "--out", str(out),
                 "--quick", "--methods", "source-only", "dann", *TINY_BUDGET]) == 0  # fmt: skip
    records = load_results(out / RESULTS)
    assert len(records) == 3 + 6  # the quick grids of source-only (lr) and DANN (α x lr)
    pairs = rebuild_data(records[0], BenchOptions(suite="selection", out=out))
    assert pairs["mosei2mosi"][0].dims() == {"text": 12, "audio": 7, "vision": 5}
    assert pairs["mosei2mosi"][1].dims() == {"text": 12, "audio": 3, "vision": 4}
    capsys.readouterr()
    assert main(["select", "--bench", str(out)]) == 0
    md = (out / "selection.md").read_text()
    assert "Data: tiny-cmu" in md and "source_val" in md


@pytest.mark.slow
def test_ray_executor_runs_a_spec(tmp_path, files):
    """--executor ray on spec data: the driver loads the files once; results as with local."""
    ray = pytest.importorskip("ray")
    spec = write_spec(tmp_path / "tiny.yaml", pair_spec(files, pairs=[["mosi", "mosei"]]))
    base = ["bench", "--suite", "main", "--data", str(spec), "--quick", "--methods",
            "source-only", "osan", *TINY_BUDGET]  # fmt: skip
    assert main([*base, "--out", str(tmp_path / "local")]) == 0
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert main([*base, "--out", str(tmp_path / "ray"), "--executor", "ray"]) == 0
    finally:
        ray.shutdown()
    local = {r["run_id"]: r["metrics"] for r in load_results(tmp_path / "local" / RESULTS)}
    remote = {r["run_id"]: r["metrics"] for r in load_results(tmp_path / "ray" / RESULTS)}
    assert set(remote) == {
        "tiny-cmu/mosi2mosei/source-only/seed1",
        "tiny-cmu/mosi2mosei/osan/seed1",
    }
    for run_id, m in local.items():
        assert remote[run_id] == pytest.approx(m, abs=1e-5), run_id


def test_builtin_generated_spec_records_its_data_and_resumes_old_records(tmp_path):
    """``--data vtc`` is the generated benchmark through the spec path; a results line written
    before specs (no ``spec`` key) still counts as the same data."""
    from osan.bench.cli import add_bench_parser, cmd_bench

    out = tmp_path / "vtc"
    argv = ["bench", "--suite", "main", "--data", "vtc", "--size", "tiny", "--out", str(out),
            "--quick", "--methods", "source-only", *TINY_BUDGET[1:]]  # fmt: skip
    assert main(argv) == 0
    rec = load_results(out / RESULTS)[0]
    assert rec["run_id"] == "vtc/news2show/source-only/seed1"
    assert rec["data"] == {"benchmark": "vtc", "size": "tiny", "seed": 0, "spec": "vtc"}
    assert (
        "generated by osan.data.generators (size tiny, data seed 0)"
        in (out / "table.md").read_text()
    )
    del rec["data"]["spec"]  # as written before benchmark specs existed
    (out / RESULTS).write_text(json.dumps(rec) + "\n")

    def must_not_train(*a, **k):
        raise AssertionError("a finished run was trained again")

    parser = argparse.ArgumentParser(prog="osan")
    add_bench_parser(parser.add_subparsers(dest="command"))
    assert cmd_bench(parser.parse_args(argv), fit_fn=must_not_train) == 0


def test_spec_domain_options_split_renaming_nan_policy_and_classes(tmp_path, files):
    """``splits`` renames a file's splits, ``nan_policy: zero`` is per domain, and a
    classification spec checks (and names) the classes of pickle-free files."""
    from osan.bench.spec import load_domains, parse_spec
    from osan.data.generators import generate
    from osan.data.portable import save_portable

    obj = pickle.loads(files["mosei"].read_bytes())
    obj["val"] = obj.pop("valid")
    obj["train"]["audio"][0, 0, 0] = np.nan
    (tmp_path / "val.pkl").write_bytes(pickle.dumps(obj, protocol=4))
    raw = pair_spec(files)
    raw["domains"]["mosei"]["path"] = "val.pkl"  # relative to the spec's folder
    with pytest.raises(SpecError, match="domain 'mosei'.*missing split"):
        load_domains(parse_spec(raw, origin="s", base=tmp_path), size="small", seed=0)
    raw["domains"]["mosei"]["splits"] = {"val": "valid"}
    with pytest.raises(SpecError, match="1 NaN/Inf values"):
        load_domains(parse_spec(raw, origin="s", base=tmp_path), size="small", seed=0)
    raw["domains"]["mosei"]["nan_policy"] = "zero"
    pairs = load_domains(parse_spec(raw, origin="s", base=tmp_path), size="small", seed=0)
    src = pairs["mosei2mosi"][0]
    assert src.meta["nan_replaced"] == 1 and len(src.split("valid")) == N["valid"]

    news, show = generate("vtc", seed=0, size="tiny")
    save_portable(news, tmp_path / "news.h5")
    save_portable(show, tmp_path / "show.npz")
    cls = {
        "name": "vtc-files",
        "task": "classification",
        "classes": ["Caption", "Subtitle", "Others"],
        "domains": {"news": "news.h5", "show": "show.npz"},
    }
    pairs = load_domains(parse_spec(cls, origin="c", base=tmp_path), size="small", seed=0)
    assert set(pairs) == {"news2show", "show2news"}  # default: every ordered pair
    cls["classes"] = ["a", "b", "c"]
    with pytest.raises(SpecError, match="differ from the spec's"):
        load_domains(parse_spec(cls, origin="c", base=tmp_path), size="small", seed=0)

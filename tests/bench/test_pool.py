"""``osan pool``: bench folders pooled over data draws, paired comparisons and sign tests."""

import csv
import io
import json
import math

import matplotlib.image as plt_image
import numpy as np
import pytest

from osan.bench.options import BenchError
from osan.bench.pool import (
    MethodChoice,
    beats,
    compare,
    gap_closed,
    parse_tags,
    per_data,
    pool_cells,
    sign_test,
)
from osan.bench.pool_figure import pool_figure
from osan.cli import main

UDA = {"source-only": "direct", "oracle": "reference"}


def record(method, seed, data_seed, target, source, bench="msa", direction="A2B", run=None):
    task = "regression" if bench == "msa" else "classification"
    return {
        "run_id": run or f"{bench}/{direction}/{method}/seed{seed}",
        "suite": f"{bench}-main",
        "benchmark": bench,
        "task": task,
        "method": method,
        "variant": method,
        "group": UDA.get(method, "uda"),
        "direction": direction,
        "seed": seed,
        "metrics": target,
        "source_metrics": source,
        "uses_target_labels": method == "oracle",
        "data": {"benchmark": bench, "size": "small", "seed": data_seed, "spec": bench},
    }


def reg(mae, corr):
    return {"mae": mae, "corr": corr}


def write(folder, records):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def draw(tmp_path, data_seed, osan, dt, dan, oracle=reg(0.1, 0.99), src=(reg(0.5, 0.8),) * 2):
    """A folder of one data draw: osan, source-only, dan and the oracle, 2 training seeds each
    (the given means: seed 1 at mean − 0.01, seed 2 at mean + 0.01 on every metric)."""
    recs = []
    for method, m, s in (
        ("osan", osan, src[0]),
        ("source-only", dt, src[1]),
        ("dan", dan, src[1]),
        ("oracle", oracle, src[1]),
    ):
        for seed, eps in ((1, -0.01), (2, 0.01)):
            recs.append(
                record(method, seed, data_seed, {k: v + eps for k, v in m.items()}, dict(s))
            )
    return write(tmp_path / f"d{data_seed}", recs)


def test_sign_test_is_the_exact_two_sided_binomial():
    assert sign_test(3, 0) == pytest.approx(0.25)
    assert sign_test(0, 4) == pytest.approx(0.125)
    assert sign_test(5, 5) == 1.0
    assert sign_test(0, 0) == 1.0
    # 9 of 10: 2 · (1 + 10) / 1024
    assert sign_test(9, 1) == pytest.approx(22 / 1024)


def test_beats_is_strict_on_every_main_metric_and_knows_mae_is_lower_better():
    keys = ("mae", "corr")
    assert beats(reg(0.9, 0.5), reg(1.0, 0.4), keys)
    assert not beats(reg(0.9, 0.4), reg(1.0, 0.4), keys)  # a tie on Corr is not a win
    assert not beats(reg(1.1, 0.6), reg(1.0, 0.4), keys)  # higher MAE
    assert beats(reg(0.9, 0.5), {"mae": 1.0}, keys) is None


def test_cells_average_training_seeds_and_a_later_folder_replaces_a_cell(tmp_path):
    a = draw(tmp_path / "a", 1, reg(1.0, 0.5), reg(1.1, 0.4), reg(1.2, 0.3))
    b = write(
        tmp_path / "b",
        [record("osan", s, 1, reg(2.0, 0.1), reg(0.5, 0.8)) for s in (1, 2, 3)],
    )
    cells, notes = pool_cells([a, b])
    osan = [c for c in cells if c.variant == "osan"]
    assert len(osan) == 1 and osan[0].target["mae"] == pytest.approx(2.0)
    assert osan[0].seeds == [1, 2, 3] and osan[0].data_label == "data seed 1"
    assert len(notes) == 1 and "replaced by" in notes[0]
    dt = next(c for c in cells if c.variant == "source-only")
    assert dt.target == {"mae": pytest.approx(1.1), "corr": pytest.approx(0.4)}


def test_the_last_record_of_a_run_id_wins_within_a_folder(tmp_path):
    recs = [
        record("osan", 1, 3, reg(5.0, 0.0), reg(0.5, 0.8)),
        record("osan", 1, 3, reg(1.0, 0.5), reg(0.5, 0.8)),
    ]
    cells, _ = pool_cells([write(tmp_path / "f", recs)])
    assert cells[0].target["mae"] == pytest.approx(1.0) and cells[0].seeds == [1]


def test_comparisons_pair_by_data_draw_and_orient_differences(tmp_path):
    folders = [
        draw(tmp_path, 1, reg(1.0, 0.5), reg(1.1, 0.4), reg(0.9, 0.6)),
        draw(tmp_path, 2, reg(1.0, 0.5), reg(1.2, 0.45), reg(1.05, 0.4)),
        draw(tmp_path, 3, reg(1.0, 0.5), reg(0.95, 0.3), reg(1.05, 0.45)),
    ]
    # a fourth draw where only osan and dan ran: it pairs with dan, not with source-only
    write(
        tmp_path / "d4",
        [record(m, 1, 4, reg(1.0, 0.5), reg(0.5, 0.8)) for m in ("osan", "dan")],
    )
    folders.append(tmp_path / "d4")
    cells, _ = pool_cells(folders)
    comps = {c.other: c for c in compare(cells, MethodChoice.parse(["osan"]))}
    dt = comps["source-only"]
    assert dt.n == 3 and dt.wins == 2  # draw 3: MAE worse
    assert dt.diff["mae"] == pytest.approx((0.1 + 0.2 - 0.05) / 3)
    assert dt.metric_wins == {"mae": 2, "corr": 3} and dt.metric_losses == {"mae": 1, "corr": 0}
    assert dt.sign_p("corr") == pytest.approx(0.25)
    dan = comps["dan"]
    assert dan.n == 4 and dan.wins == 2  # draw 4 is a tie on both: no win
    assert dan.metric_wins["corr"] == 2 and dan.metric_losses["corr"] == 1


def test_per_data_counts_wins_against_baseline_every_uda_method_and_source_fit(tmp_path):
    worse_src = (reg(0.55, 0.79), reg(0.5, 0.8))
    folders = [
        draw(tmp_path, 1, reg(1.0, 0.5), reg(1.1, 0.4), reg(1.05, 0.45)),  # beats both
        draw(tmp_path, 2, reg(1.0, 0.5), reg(1.1, 0.4), reg(0.9, 0.6), src=worse_src),
    ]
    rows = {r.label: r for r in per_data(pool_cells(folders)[0], MethodChoice.parse(["osan"]),
                                         "source-only")}  # fmt: skip
    one, two = rows["data seed 1"], rows["data seed 2"]
    assert one.vs_baseline == ["msa A2B"] and one.vs_all == ["msa A2B"]
    assert one.others == {"msa A2B": 1}  # dan: the baseline and the oracle are not UDA
    assert one.source_ok == ["msa A2B"]  # equal source metrics count as "at least"
    assert two.vs_baseline == ["msa A2B"] and two.vs_all == [] and two.source_ok == []


def test_method_choice_per_benchmark():
    choice = MethodChoice.parse(["osan", "vtc=osan-plus"])
    assert choice.of("vtc") == "osan-plus" and choice.of("msa") == "osan"
    assert MethodChoice.parse(["vtc=osan-plus"]).of("msa") is None
    for bad in (["osan", "dan"], ["=osan"], ["vtc="]):
        with pytest.raises(BenchError):
            MethodChoice.parse(bad)


def test_cli_writes_the_report(tmp_path, capsys):
    folders = [draw(tmp_path, d, reg(1.0, 0.5), reg(1.1, 0.4), reg(1.05, 0.45)) for d in (1, 2)]
    out = tmp_path / "pool"
    assert main(["pool", "--bench", *map(str, folders), "--out", str(out)]) == 0
    md = (out / "pool.md").read_text()
    assert "| data seed 1 | 1 | 1 of 1 (msa A2B)" in md
    assert "1 of 1 (msa A2B) [1] |" in md  # one other UDA method (dan) ran
    assert "## msa A2B: osan, source test" in md
    rows = (out / "pool.csv").read_text().splitlines()
    assert rows[0].startswith("benchmark,direction,domain,method,other")
    doc = json.loads((out / "pool.json").read_text())
    dt = next(c for c in doc["comparisons"]
              if c["other"] == "source-only" and c["domain"] == "target")  # fmt: skip
    assert dt["wins"] == 2 and math.isclose(dt["sign_p"]["corr"], 0.5)
    assert "wrote" in capsys.readouterr().out


def test_a_tagged_folder_pools_as_a_variant_of_its_own_beside_the_untagged(tmp_path, capsys):
    """Runs of osan with other overrides (own folders) are compared with osan, not swapped in."""
    base = [draw(tmp_path / "b", d, reg(1.0, 0.5), reg(1.1, 0.4), reg(1.05, 0.45)) for d in (1, 2)]
    alt = [
        write(tmp_path / "g" / f"d{d}", [record("osan", 1, d, reg(0.9, 0.6), reg(0.4, 0.9))])
        for d in (1, 2)
    ]
    cells, notes = pool_cells(base + alt, parse_tags([f"{a}=gate0" for a in alt], base + alt))
    variants = {c.variant for c in cells}
    assert {"osan", "osan@gate0"} <= variants and not notes  # nothing replaced
    comps = compare(cells, MethodChoice.parse(["osan@gate0"]), "target")
    vs_osan = next(c for c in comps if c.other == "osan")
    # per draw: osan's seeds average to (1.0, 0.5); the tagged run is (0.9, 0.6)
    assert vs_osan.n == 2 and vs_osan.wins == 2
    assert math.isclose(vs_osan.diff["mae"], 0.1) and math.isclose(vs_osan.diff["corr"], 0.1)
    out = tmp_path / "pool"
    tags = [f"{a}=gate0" for a in alt]
    args = ["pool", "--bench", *map(str, base + alt), "--tag", *tags, "--method", "osan@gate0"]
    assert main([*args, "--out", str(out)]) == 0
    md = (out / "pool.md").read_text()
    assert "## msa A2B: osan@gate0, target test" in md and "OSAN (TAL + DDG) |" in md
    assert json.loads((out / "pool.json").read_text())["tags"] == {str(a): "gate0" for a in alt}
    # untagged, the later folders replace osan's cells instead
    _, notes = pool_cells(base + alt)
    assert len(notes) == 2 and all("replaced by" in n for n in notes)


def test_tags_must_name_a_bench_folder_once_with_a_plain_name(tmp_path):
    folders = [tmp_path / "a", tmp_path / "b"]
    assert parse_tags([f"{folders[1]}=x.1"], folders) == {1: "x.1"}
    for bad in ([f"{folders[0]}="], ["=x"], ["nodir"], [f"{tmp_path / 'c'}=x"],
                [f"{folders[0]}=a b"], [f"{folders[0]}=x", f"{folders[0]}=y"]):  # fmt: skip
        with pytest.raises(BenchError):
            parse_tags(bad, folders)


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--method", "mdmn"], "no finished run of mdmn"),
        (["--baseline", "adda"], "--baseline: no finished run of adda"),
        (["--method", "osan", "dan"], "two defaults"),
        (["--method", "vtc=osan"], "no benchmark vtc"),
        (["--tag", "elsewhere=x"], "is not one of the --bench folders"),
    ],
)
def test_bad_commands_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, extra, needle):
    folder = draw(tmp_path, 1, reg(1.0, 0.5), reg(1.1, 0.4), reg(1.05, 0.45))
    out = tmp_path / "pool"
    assert main(["pool", "--bench", str(folder), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_a_folder_that_is_not_a_bench_folder_exits_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["pool", "--bench", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no results.jsonl" in err and len(err.splitlines()) == 1
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.jsonl").write_text('{"run_id": "x"}\n[1]\n{"run_id": "y"}\n')
    assert main(["pool", "--bench", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "results.jsonl: line" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_a_metric_missing_everywhere_is_null_in_strict_json(tmp_path):
    recs = [record("osan", 1, 1, {"mae": 1.0}, {"mae": 0.5})]
    recs += [record("source-only", 1, 1, {"mae": 1.1}, {"mae": 0.5})]
    out = tmp_path / "pool"
    assert main(["pool", "--bench", str(write(tmp_path / "f", recs)), "--out", str(out)]) == 0

    def refuse(name):
        raise AssertionError(f"{name} in pool.json")

    doc = json.loads((out / "pool.json").read_text(), parse_constant=refuse)
    dt = next(c for c in doc["comparisons"] if c["domain"] == "target")
    assert dt["diff"]["corr"] is None and dt["diff"]["mae"] == pytest.approx(0.1)
    assert dt["wins"] == 0  # "beats" needs every main metric
    row = next(r for r in (out / "pool.md").read_text().splitlines() if r.startswith("| Direct"))
    assert "| – ± 0.000 (0–0, 1) |" in row  # Corr: no pair to compare


def gap_folders(tmp_path):
    """Two msa draws with the oracle, a third without it (left out of the share), and vtc
    draws without any oracle."""
    folders = [
        draw(tmp_path, 1, reg(1.0, 0.5), reg(1.1, 0.4), reg(1.3, 0.2), oracle=reg(0.1, 0.99)),
        draw(tmp_path, 2, reg(1.0, 0.5), reg(1.3, 0.2), reg(1.5, 0.2), oracle=reg(0.3, 0.8)),
    ]
    no_oracle = [
        record(m, 1, 3, t, reg(0.5, 0.8))
        for m, t in (("osan", reg(0.9, 0.6)), ("source-only", reg(1.5, 0.5)))
    ]
    folders.append(write(tmp_path / "d3", no_oracle))
    for d, (osan, dt) in enumerate([(0.8, 0.7), (0.9, 0.85)], start=1):
        recs = [
            record(m, 1, d, {"f1": f1}, {"f1": 0.99}, bench="vtc", direction="news2show")
            for m, f1 in (("osan", osan), ("source-only", dt), ("dan", dt - 0.01))
        ]
        folders.append(write(tmp_path / f"vtc{d}", recs))
    return folders


def test_gap_share_is_the_pooled_distance_to_direct_transfer_over_the_oracles(tmp_path):
    cells, _ = pool_cells(gap_folders(tmp_path))
    gaps = {(g.benchmark, g.variant): g for g in gap_closed(cells, "source-only")}
    # pooled over draws 1 and 2 (draw 3 has no oracle): DT (1.2, 0.3), oracle (0.2, 0.895)
    osan, dan = gaps[("msa", "osan")], gaps[("msa", "dan")]
    assert osan.n == 2 and osan.oracle_ran
    assert osan.share["mae"] == pytest.approx((1.2 - 1.0) / (1.2 - 0.2))
    assert osan.share["corr"] == pytest.approx((0.5 - 0.3) / (0.895 - 0.3))
    assert dan.share["mae"] == pytest.approx((1.2 - 1.4) / (1.2 - 0.2))  # away from the oracle
    assert osan.oracle_mean == {"mae": pytest.approx(0.2), "corr": pytest.approx(0.895)}
    assert ("msa", "source-only") not in gaps and ("msa", "oracle") not in gaps
    vtc = gaps[("vtc", "osan")]
    assert not vtc.oracle_ran and math.isnan(vtc.share["f1"]) and vtc.n == 2


def test_an_oracle_no_better_than_direct_transfer_leaves_no_gap_to_share(tmp_path):
    folder = draw(tmp_path, 1, reg(1.0, 0.5), reg(1.1, 0.4), reg(1.3, 0.2), oracle=reg(1.2, 0.6))
    share = next(g for g in gap_closed(pool_cells([folder])[0], "source-only")
                 if g.variant == "osan").share  # fmt: skip
    assert math.isnan(share["mae"]) and share["corr"] == pytest.approx(0.1 / 0.2)


def test_the_report_shows_the_gap_share_and_none_where_no_oracle_ran(tmp_path):
    out = tmp_path / "pool"
    assert main(["pool", "--bench", *map(str, gap_folders(tmp_path)), "--out", str(out)]) == 0
    md = (out / "pool.md").read_text()
    msa = md.split("## msa A2B: osan, target test")[1].split("## msa A2B: osan, source test")[0]
    assert (
        "| OSAN (TAL + DDG) | 2 | +20% (1.000; 1.200, 0.200) | +34% (0.500; 0.300, 0.895) |" in msa
    )
    assert "| DAN | 2 | -20% (1.400; 1.200, 0.200) |" in msa
    vtc = md.split("## vtc news2show: osan, target test")[1]
    assert "No oracle ran on this task" in vtc and "Share of the" not in vtc
    doc = json.loads((out / "pool.json").read_text())
    share = {(g["benchmark"], g["variant"]): g["gap_closed"] for g in doc["gap_closed"]}
    assert share[("msa", "osan")]["mae"] == pytest.approx(0.2)
    assert share[("vtc", "osan")] == {"f1": None} and share[("vtc", "dan")] == {"f1": None}
    rows = {(r["benchmark"], r["domain"], r["other"], r["metric"]): r
            for r in csv.DictReader(io.StringIO((out / "pool.csv").read_text()))}  # fmt: skip
    dan = rows[("msa", "target", "dan", "mae")]
    assert float(dan["gap_closed_method"]) == pytest.approx(0.2)
    assert float(dan["gap_closed_other"]) == pytest.approx(-0.2)
    assert rows[("msa", "target", "oracle", "mae")]["gap_closed_other"] == "1"
    assert rows[("msa", "source", "dan", "mae")]["gap_closed_method"] == ""
    assert rows[("vtc", "target", "dan", "f1")]["gap_closed_method"] == ""


def test_the_figure_has_a_panel_per_task_and_metric_and_a_dot_per_draw(tmp_path):
    cells, _ = pool_cells(gap_folders(tmp_path))
    fig = pool_figure(cells, "source-only")
    titles = [ax.get_title().splitlines()[0] for ax in fig.axes]
    assert titles == ["msa A2B: MAE", "msa A2B: Corr", "vtc news2show: macro-F1 (points)"]
    mae = fig.axes[0]
    ticks = [t.get_text() for t in mae.get_xticklabels()]
    assert ticks == ["OSAN (TAL + DDG)", "DAN"]  # neither the baseline nor the oracle
    dots = [c.get_offsets() for c in mae.collections]
    assert [len(d) for d in dots] == [3, 2]  # osan ran on 3 draws, dan on 2
    assert sorted(np.asarray(dots[0])[:, 1]) == pytest.approx([0.1, 0.3, 0.6])
    means = [line.get_ydata()[0] for line in mae.lines if line.get_color() == "black"]
    assert means == pytest.approx([(0.1 + 0.3 + 0.6) / 3, (-0.2 - 0.2) / 2])
    assert "oracle +1" in fig.axes[0].get_title()  # oracle's mean gain drawn only as text
    vtc = fig.axes[2]
    assert [len(c.get_offsets()) for c in vtc.collections] == [2, 2]
    assert np.asarray(vtc.collections[0].get_offsets())[:, 1] == pytest.approx([10.0, 5.0], abs=0.2)


def test_the_cli_writes_the_figure_as_a_png(tmp_path):
    out = tmp_path / "pool"
    assert main(["pool", "--bench", *map(str, gap_folders(tmp_path)), "--out", str(out)]) == 0
    png = (out / "pool.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = plt_image.imread(out / "pool.png")
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100

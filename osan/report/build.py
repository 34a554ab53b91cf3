"""``osan report``: finished runs → ``OUT/report.md``, ``OUT/report.html`` and PNG figures.

Nothing is trained or re-evaluated: every analysis reads what the runs saved
(``features.npz``, ``log.jsonl``, ``results.jsonl``, the suite's ``table.md``).
"""

from __future__ import annotations

import shlex
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from osan.eval.evaluate import RunArtifacts, load_run_artifacts
from osan.report import document as D
from osan.report.cases import choose_cases, cosine_nearest, fmt_label, shorten
from osan.report.curves import Curve, curves_figure, read_curve
from osan.report.divergence import LN2, domain_jsd
from osan.report.plotting import TARGET_LABEL_NOTE, colour_of, new_figure, publish, save_png
from osan.report.runs import (
    TRAIN_BENCH,
    TWO_STAGE,
    ReportError,
    ReportRun,
    discover,
    discover_train_runs,
    group_title,
    method_order,
)
from osan.report.tsne import TsnePanel, label_groups, subsample, tsne_embed, tsne_figure

Group = tuple[str, str]


@dataclass
class ReportOptions:
    """What ``osan report`` was asked for (see ``osan report --help``)."""

    benches: list[Path]  # empty: ``runs`` are `osan train` folders
    out: Path
    runs: list[str] | None = None  # fnmatch patterns of run ids (with benches) or folders
    methods: list[str] | None = None  # method keys: "osan", "source-only", "osan:wo-both"
    cases: int = 4
    case_ids: list[str] | None = None
    seed: int = 0
    tsne_source: int = 500  # source points per t-SNE panel (of the run's saved sample)
    tsne_target: int = 1000  # target test points per t-SNE panel
    command: str = ""


@dataclass
class ReportResult:
    markdown: Path
    html: Path
    figures: list[Path]
    notes: list[str] = field(default_factory=list)


def _fname(*parts: str) -> str:
    return "_".join(p.replace("/", "-").replace(" ", "-") for p in parts) + ".png"


def _first_seed(runs: list[ReportRun]) -> dict[str, ReportRun]:
    """The lowest-seed run with saved artifacts of every method key, in the paper's order."""
    best: dict[str, ReportRun] = {}
    for r in sorted(runs, key=lambda r: r.seed):
        if r.has_artifacts and r.key not in best:
            best[r.key] = r
    return {k: best[k] for k in sorted(best, key=method_order)}


def _mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


class _Builder:
    def __init__(self, opts: ReportOptions, keys: list[str]) -> None:
        self.opts = opts
        self.keys = keys  # every method key of the report, in order: fixes the colours
        self.out = Path(opts.out)
        self.figures: list[Path] = []
        self.notes: list[str] = []
        self._artifacts: dict[str, RunArtifacts] = {}

    def artifacts(self, run: ReportRun) -> RunArtifacts:
        if run.run_id not in self._artifacts:
            self._artifacts[run.run_id] = load_run_artifacts(run.path)
        return self._artifacts[run.run_id]

    # ----------------------------------------------------------------------- sections
    def tables(self, runs: list[ReportRun]) -> list[D.Block]:
        from osan.bench.tables import aggregate, data_lines, render_markdown

        blocks: list[D.Block] = [D.Heading(2, "Tables")]
        trained = [r.record for r in runs if r.bench is None]
        for task in dict.fromkeys(r["task"] for r in trained):
            recs = [r for r in trained if r["task"] == task]
            blocks.append(
                D.Para(
                    f"`osan train` runs ({task}), grouped by method: mean ± std over seeds of "
                    "each method's runs on the same data."
                )
            )
            md = render_markdown(
                "osan train runs", aggregate(recs), data_lines(recs), {TRAIN_BENCH: task}
            )
            blocks.append(D.Markdown(md, demote=2))
        for bench in dict.fromkeys(r.bench for r in runs if r.bench is not None):
            table = bench / "table.md"
            if table.is_file():
                blocks.append(D.Para(f"From `{table}`:"))
                blocks.append(D.Markdown(table.read_text(), demote=2))
            else:
                self.notes.append(f"{bench}: no table.md")
        blocks.append(D.Heading(3, "Training time per run"))
        blocks.append(
            D.Para(
                "Wall-clock seconds of `fit` as recorded by `osan bench` (`wall_time_s`); for "
                "`osan train` folders, the sum of the epochs' seconds in `log.jsonl`."
            )
        )
        rows = [
            [
                r.run_id,
                r.label,
                str(r.seed),
                f"{float(r.record.get('wall_time_s', float('nan'))):.1f}",
                str(r.record.get("best_epoch", "")),
                "yes" if r.record.get("resumed") else "no",
            ]
            for r in runs
        ]
        blocks.append(
            D.Table(["run", "method", "seed", "wall time (s)", "best epoch", "resumed"], rows)
        )
        return blocks

    def tsne(self, group: Group, runs: list[ReportRun]) -> list[D.Block]:
        chosen = _first_seed(runs)
        if not chosen:
            return [D.Para(f"*{group_title(group)}: no run with saved features.*")]
        panels = []
        names: list[str] = []
        for run in chosen.values():
            art = self.artifacts(run)
            if art.target_labels is None:
                self.notes.append(f"{run.run_id}: no target test labels; t-SNE skipped")
                continue
            s_rows = subsample(len(art.source_features), self.opts.tsne_source, self.opts.seed)
            t_rows = subsample(len(art.target_features), self.opts.tsne_target, self.opts.seed)
            s_xy, t_xy = tsne_embed(
                art.source_features[s_rows], art.target_features[t_rows], seed=self.opts.seed
            )
            codes, names = label_groups(art.target_labels[t_rows], art.task, art.classes)
            panels.append(TsnePanel(f"{run.label} (seed {run.seed})", s_xy, t_xy, codes))
        if not panels:
            return []
        name = _fname("tsne", *group)
        title = f"t-SNE of target test features, {group_title(group)}"
        self.figures.append(tsne_figure(panels, names, title, self.out / name))
        return [
            D.Image(
                name,
                f"t-SNE {group_title(group)}",
                f"{title}. Colours: target test labels (evaluation only); grey: source sample.",
            )
        ]

    def divergence(self, groups: dict[Group, list[ReportRun]]) -> list[D.Block]:
        blocks: list[D.Block] = [
            D.Heading(2, "Distribution discrepancy (JSD, paper Fig. 7)"),
            D.Para(
                "Symmetric Jensen–Shannon divergence (nats, 0 … ln 2 ≈ 0.693) between the "
                "source sample and the target test features of each run, estimated as ln 2 "
                "minus the cross-fitted, class-balanced cross-entropy of a logistic domain "
                "classifier on standardised, PCA-reduced (≤ 32 dims) features: a lower bound "
                "that is tight when the log density ratio is linear (`osan.report.divergence`). "
                "Reads no labels. Mean ± std over seeds."
            ),
        ]
        results: dict[Group, dict[str, list[float]]] = {}
        labels: dict[str, str] = {}
        rows = []
        for group, runs in groups.items():
            per: dict[str, list[float]] = defaultdict(list)
            for run in sorted(runs, key=lambda r: (method_order(r.key), r.seed)):
                if not run.has_artifacts:
                    continue
                art = self.artifacts(run)
                per[run.key].append(
                    domain_jsd(art.source_features, art.target_features, seed=self.opts.seed)
                )
                labels[run.key] = run.label
            if per:
                results[group] = dict(per)
                rows += [
                    [group_title(group), labels[k], _mean_std(v), str(len(v))]
                    for k, v in per.items()
                ]
        if not results:
            return [*blocks, D.Para("*No run with saved features.*")]
        blocks.append(D.Table(["task", "method", "JSD (nats)", "seeds"], rows))
        panel_width = max(4.5, 1.1 * max(len(v) for v in results.values()) + 1.5)
        cols = min(3, len(results))
        rows_n = -(-len(results) // cols)
        fig = new_figure(panel_width * cols, 3.6 * rows_n)
        axes = list(fig.subplots(rows_n, cols, squeeze=False).flat)
        for ax in axes[len(results) :]:
            ax.set_axis_off()
        for ax, (group, per) in zip(axes, results.items(), strict=False):
            keys = list(per)
            means = [float(np.mean(per[k])) for k in keys]
            errs = [float(np.std(per[k], ddof=1)) if len(per[k]) > 1 else 0.0 for k in keys]
            colours = [colour_of(k, self.keys) for k in keys]
            yerr = errs if any(errs) else None  # one seed: no error bars
            ax.bar(range(len(keys)), means, yerr=yerr, color=colours, capsize=3)
            for i, m in enumerate(means):
                ax.annotate(f"{m:.3f}", (i, m), ha="center", va="bottom", fontsize=8)
            ax.set_xticks(range(len(keys)), [labels[k] for k in keys], rotation=20, ha="right")
            ax.set_ylim(0, LN2 * 1.08)
            ax.axhline(LN2, color="#888", ls="--", lw=0.8)
            ax.set_ylabel("JSD (nats)")
            ax.set_title(group_title(group), fontsize=10)
        fig.suptitle("Source–target feature discrepancy (dashed: ln 2, disjoint)", fontsize=9)
        name = "jsd.png"
        self.figures.append(save_png(fig, self.out / name))
        blocks.append(
            D.Image(name, "JSD per method", "Symmetric JSD of source and target features.")
        )
        return blocks

    def curves(self, group: Group, runs: list[ReportRun]) -> list[D.Block]:
        curves: list[Curve] = []
        colours: dict[str, str] = {}
        for run in sorted(runs, key=lambda r: (method_order(r.key), r.seed)):
            log = run.path / "log.jsonl"
            c = read_curve(log, run.label, run.seed) if log.is_file() else None
            if c is not None:
                if run.method in TWO_STAGE:
                    c.label += " (two-stage)"
                colours[c.label] = colour_of(run.key, self.keys)
                curves.append(c)
        if not curves:
            return [
                D.Para(
                    f"*{group_title(group)}: no `target_curve` records; train with "
                    "`curve_every=N` (e.g. `osan bench ... curve_every=10`) to draw them.*"
                )
            ]
        task = runs[0].task
        name = _fname("curves", *group)
        title = f"Target test metrics during training, {group_title(group)}"
        self.figures.append(curves_figure(curves, task, title, self.out / name, colours))
        caption = f"{title}. Diagnostic that {TARGET_LABEL_NOTE}."
        return [D.Image(name, f"learning curves {group_title(group)}", caption)]

    def cases(self, group: Group, runs: list[ReportRun]) -> list[D.Block]:
        chosen = _first_seed(runs)
        if not chosen:
            return []
        first = self.artifacts(next(iter(chosen.values())))
        try:
            rows_idx = choose_cases(
                first.target_ids, self.opts.cases, self.opts.seed, self.opts.case_ids
            )
        except KeyError as e:
            raise ReportError(f"{group_title(group)}: {e.args[0]}") from None
        case_ids = [first.target_ids[i] for i in rows_idx]
        rows: list[list[str]] = []
        for cid in case_ids:
            for j, run in enumerate(chosen.values()):
                art = self.artifacts(run)
                where = {sid: i for i, sid in enumerate(art.target_ids)}
                if cid not in where:
                    continue
                i = where[cid]
                idx, sim = cosine_nearest(art.target_features[i : i + 1], art.source_features)
                s = int(idx[0])
                t_label = None if art.target_labels is None else art.target_labels[i]
                s_label = None if art.source_labels is None else art.source_labels[s]
                target_cells = (
                    [cid, shorten(art.target_text[i]) if art.target_text else "(no raw text)",
                     fmt_label(t_label, art.task, art.classes)]
                    if j == 0
                    else ["", "", ""]
                )  # fmt: skip
                rows.append(
                    [
                        *target_cells,
                        run.label,
                        fmt_label(art.point_predictions()[i], art.task, art.classes),
                        art.source_ids[s],
                        shorten(art.source_text[s]) if art.source_text else "(no raw text)",
                        fmt_label(s_label, art.task, art.classes),
                        f"{float(sim[0]):.3f}",
                    ]
                )
        header = [
            "target id",
            "target text",
            "true label",
            "method",
            "prediction",
            "nearest source id",
            "source text",
            "source label",
            "cosine",
        ]
        how = (
            "named with --case-ids"
            if self.opts.case_ids
            else f"drawn at random (seed {self.opts.seed}), not picked for any method"
        )
        return [
            D.Heading(3, group_title(group)),
            D.Para(
                f"Target test samples {how}; for each method (seed "
                f"{', '.join(dict.fromkeys(str(r.seed) for r in chosen.values()))}) the most "
                "cosine-similar "
                "source sample among the run's saved source sample. True labels are target test "
                "labels (evaluation only)."
            ),
            D.Table(header, rows),
        ]


def build_report(opts: ReportOptions) -> ReportResult:
    """Write ``OUT/report.md``, ``OUT/report.html`` and the figures; see the module docstring.

    Raises :class:`ReportError` for a bad command (no runs, unknown run ids or methods).
    """
    if opts.benches:
        runs = discover([Path(b) for b in opts.benches], opts.runs)
    else:
        runs = discover_train_runs([Path(r) for r in opts.runs or []])
    if opts.methods:
        unknown = sorted(set(opts.methods) - {r.key for r in runs})
        if unknown:
            have = sorted({r.key for r in runs}, key=method_order)
            raise ReportError(f"--methods {unknown} not among the runs' methods {have}")
        runs = [r for r in runs if r.key in opts.methods]
    out = Path(opts.out)
    b = _Builder(opts, sorted({r.key for r in runs}, key=method_order))
    for r in runs:  # every run file read and checked before OUT is made (one line on a bad one)
        if r.has_artifacts:
            b.artifacts(r)
    out.mkdir(parents=True, exist_ok=True)
    missing = [r.run_id for r in runs if not r.has_artifacts]
    if missing:
        b.notes.append(
            f"{len(missing)} run(s) without features.npz (trained before osan saved report "
            f"artifacts), left out of the figures: {', '.join(missing)}"
        )
    groups: dict[Group, list[ReportRun]] = defaultdict(list)
    for r in runs:
        groups[r.group].append(r)
    if opts.case_ids:  # a bad id fails before the slow figures
        for group, group_runs in groups.items():
            chosen = _first_seed(group_runs)
            if chosen:
                ids = b.artifacts(next(iter(chosen.values()))).target_ids
                try:
                    choose_cases(ids, opts.cases, opts.seed, opts.case_ids)
                except KeyError as e:
                    raise ReportError(f"{group_title(group)}: {e.args[0]}") from None

    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    blocks: list[D.Block] = [
        D.Heading(1, "osan report"),
        D.Para(
            f"{len(runs)} run(s) from "
            f"{', '.join(f'`{x}`' for x in opts.benches) or '`osan train` folders'}, "
            f"generated {when}" + (f" by `{opts.command}`." if opts.command else ".")
        ),
        D.Para(
            "**Target labels.** The t-SNE colours, the learning curves and the true labels of the "
            "case studies read target TEST labels. They are evaluation only: training and model "
            "selection never read them (the curves are diagnostics logged with `curve_every`)."
        ),
    ]
    blocks += b.tables(runs)
    blocks.append(D.Heading(2, "Feature distribution (t-SNE, paper Fig. 4/5)"))
    blocks.append(
        D.Para(
            "Target test features (the representation the task head reads) of each method, "
            "embedded together with the run's source sample (grey, behind). One t-SNE per "
            "panel: distances are comparable within a panel, not across panels."
        )
    )
    for group, group_runs in groups.items():
        blocks.append(D.Heading(3, group_title(group)))
        blocks += b.tsne(group, group_runs)
    blocks += b.divergence(groups)
    blocks.append(D.Heading(2, "Learning curves (paper Fig. 2)"))
    blocks.append(
        D.Para(
            "Target test metric every `curve_every` iterations: one-stage OSAN against the "
            "two-stage baselines (dotted line: start of their second phase). This diagnostic "
            f"{TARGET_LABEL_NOTE}."
        )
    )
    for group, group_runs in groups.items():
        blocks.append(D.Heading(3, group_title(group)))
        blocks += b.curves(group, group_runs)
    blocks.append(D.Heading(2, "Case studies (paper Fig. 6)"))
    for group, group_runs in groups.items():
        blocks += b.cases(group, group_runs)
    if b.notes:
        blocks.append(D.Heading(2, "Notes"))
        blocks.append(D.Markdown("\n".join(f"- {D.md_escape(n)}" for n in b.notes)))

    md_path, html_path = out / "report.md", out / "report.html"
    md = D.to_markdown(blocks)
    page = D.to_html(blocks, out, "osan report")
    publish(md_path, md.encode())
    publish(html_path, page.encode())
    return ReportResult(md_path, html_path, b.figures, b.notes)


def command_line(argv: list[str]) -> str:
    return shlex.join(["osan", *argv])

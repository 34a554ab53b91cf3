"""The Markdown of ``table.md``: main suites in the Table 1 / 6 layout (a row per method, bold
best UDA method), ablations in the Tables 2-5 / 7-10 layout (metrics as rows, deltas against the
full model); the layouts are described in ``osan/bench/tables.py``."""

from __future__ import annotations

from osan.bench import suites as S
from osan.bench.cells import (
    COLUMNS,
    Cell,
    Column,
    bench_titles,
    by_benchmark,
    delta_of,
    direction_names,
    directions_of,
    has_regression,
    in_order,
    reference_of,
    suite_variants,
)
from osan.bench.table_format import (
    MISSING,
    ORACLE_MARK,
    best_uda,
    fmt_delta,
    fmt_mean_std,
    short_direction,
)

#: First header cell of each ablation table, as in the paper.
ABLATION_CORNER = {
    "ablation-modules": "Module",
    "ablation-losses": "Loss",
    "ablation-ddg": "DDG",
    "ablation-tal": "TAL",
    "ablation-pairing": "Pairing",
    "ablation-design": "Design",
}


def main_table_md(cells: list[Cell], bench: str) -> list[str]:
    """One Markdown table (Table 1 / Table 6 layout) for the cells of one benchmark."""
    task = cells[0].task
    cols = COLUMNS[task]
    dirs = directions_of(cells, bench)
    names = direction_names(cells, bench)
    by = {(c.direction, c.variant): c for c in cells}
    variants = [c.variant for c in in_order(cells, list(S.MAIN_METHODS))]
    variants = list(dict.fromkeys(variants))
    proto = {c.variant: c for c in cells}

    def head(d: str, col: Column) -> str:
        return col.title if len(dirs) == 1 else f"{col.title} ({short_direction(d, cells)})"

    header = ["Methods"] + [head(d, col) for d in dirs for col in cols]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    bold = {
        (d, k): best_uda([c for c in cells if c.direction == d], k, col)
        for d in dirs
        for col in cols
        for k in col.keys
    }
    blank = [""] * (len(header) - 1)
    groups = [
        ("direct", None),
        (
            S.TEST_TIME,
            "*Test-time (source-free): Direct Transfer's run adapted on the unlabelled target "
            "train split without the source data; the UDA rows saw the source while adapting*",
        ),
        ("uda", "*UDA*"),
        ("oracle", f"*Upper bound ({ORACLE_MARK}: uses target labels; not UDA, never ranked)*"),
    ]
    for group, title in groups:
        members = [v for v in variants if proto[v].group == group]
        if not members:
            continue
        if title:
            lines.append("| " + " | ".join([title, *blank]) + " |")
        for v in members:
            p = proto[v]
            label = p.label + (f" {ORACLE_MARK}" if p.uses_target_labels else "")
            if group == "direct":
                label = f"*{label}*"
            row = [label]
            for d in dirs:
                c = by.get((d, v))
                for col in cols:
                    parts = []
                    for k in col.keys:
                        text = MISSING if c is None else fmt_mean_std(c, k, col)
                        if c is not None and v in bold[(d, k)]:
                            text = f"**{text}**"
                        parts.append(text)
                    row.append(" / ".join(parts))
            lines.append("| " + " | ".join(row) + " |")
    legend = [f"{short_direction(d, cells)}: {names.get(d, d)}" for d in dirs if len(dirs) > 1]
    notes = _seed_note(cells)
    return lines + ([""] + ["; ".join(legend)] if legend else []) + notes


def _seed_note(cells: list[Cell]) -> list[str]:
    counts = {c.n for c in cells}
    if not cells:
        return []
    full = max(counts)
    seeds = sorted({s for c in cells for s in c.seeds})
    note = f"Seeds: {', '.join(map(str, seeds))} (n = {full} per cell"
    short = [
        f"{c.label} {short_direction(c.direction, cells)}: n = {c.n}" for c in cells if c.n < full
    ]
    note += "; fewer: " + ", ".join(short) + ")" if short else ")"
    return ["", note]


# --------------------------------------------------------------------------- ablation tables


def ablation_table_md(cells: list[Cell], suite: str) -> list[str]:
    """Tables 2-5 / 7-10 layout: metrics as rows, variants as columns, deltas vs the full model."""
    task = cells[0].task
    cols = COLUMNS[task]
    bench = cells[0].benchmark
    order = [v.name for v in suite_variants(suite, bench, task)]
    cells = in_order(cells, order)
    ref = reference_of(cells)
    if ref is not None:  # the full model first
        cells = [ref] + [c for c in cells if c is not ref]
    corner = ABLATION_CORNER.get(suite, "Variant")
    header = [corner] + [c.label + (" (full)" if c is ref else "") for c in cells]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for col in cols:
        row = [col.title]
        for c in cells:
            if c is ref:
                row.append(" / ".join(fmt_mean_std(c, k, col) for k in col.keys))
            else:
                row.append("/".join(fmt_delta(delta_of(c, ref, k), col) for k in col.keys))
        lines.append("| " + " | ".join(row) + " |")
    if ref is None:
        lines += ["", "(the full model has no finished run yet: no deltas)"]
    return lines + _seed_note(cells)


def render_markdown(
    suite: str,
    cells: list[Cell],
    data: dict[str, list[str]] | None = None,
    titles: dict[str, str] | None = None,
) -> str:
    """``table.md``; ``data`` (from :func:`data_lines`) adds each benchmark's ``Data:`` line,
    ``titles`` (from :func:`bench_titles`) names each benchmark."""
    data = data or {}
    titles = titles if titles is not None else bench_titles([])
    spec = S.SUITES.get(suite)
    title = f"# {suite}" + (f": {spec.title} ({spec.paper} layout)" if spec else "")
    out = [title, ""]
    out.append(
        "Target test metrics, mean ± std over seeds"
        + (
            " (accuracies and F1 in %; Acc-2 / F1: has-0 / non-0)."
            if has_regression(cells)
            else "."
        )
    )
    kind = spec.kind if spec else ("ablation" if any(c.reference for c in cells) else "main")
    if kind == "main":
        out.append(
            "**Bold**: best UDA method per column. Direct Transfer and the oracle "
            f"({ORACLE_MARK}, supervised on target labels: an upper bound) are references, "
            "excluded from the ranking."
        )
    else:
        out.append(
            "The full model's column is absolute; the other columns are differences of the "
            "mean against it (for MAE ↓ a plus is worse)."
        )
    if not cells:
        out += ["", "(no finished runs yet)"]
    for bench, group in by_benchmark(cells):
        title = titles.get(bench, "")
        out += ["", f"## {bench}" + (f": {title}" if title else ""), ""]
        out += [f"{line}  " for line in data.get(bench, [])] + ([""] if bench in data else [])
        names = direction_names(group, bench)
        if kind == "main":
            out += main_table_md(group, bench)
        else:
            for d in directions_of(group, bench):
                sub = [c for c in group if c.direction == d]
                out += [f"{names.get(d, d)} ({short_direction(d, group)}):", ""]
                out += ablation_table_md(sub, suite) + [""]
    return "\n".join(out).rstrip() + "\n"

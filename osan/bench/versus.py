"""``versus.md`` of a main suite: does one method (OSAN, or OSAN+) beat each other method, on
each metric, and by how much."""

from __future__ import annotations

import math

from osan.bench import suites as S
from osan.bench.cells import COLUMNS, Cell, by_benchmark, directions_of, in_order
from osan.bench.table_format import MISSING, ORACLE_MARK, scale_of, short_direction
from osan.eval.metrics import METRIC_DIRECTIONS

#: The method a main suite's versus table compares with every other method.
VERSUS_METHOD = "osan"
#: The versus files of a main suite: OSAN (the paper's method) and OSAN+ (our extension).
VERSUS_FILES: dict[str, str] = {"versus.md": VERSUS_METHOD, "versus-osan-plus.md": "osan-plus"}


def versus_md(
    suite: str,
    cells: list[Cell],
    method: str = VERSUS_METHOD,
    data: dict[str, list[str]] | None = None,
) -> str | None:
    """Does ``method`` beat each other method, on each metric, and by how much?

    One table per benchmark and direction: a row per other method, a column per metric, the
    cell the difference of the means oriented so that **+ means ``method`` is better** (for MAE,
    lower is better, so + is a lower MAE), in the metric's table units. ``*`` marks a
    difference larger than √(s₁² + s₂²), the seed-to-seed std of a difference of two single
    runs (with 3 seeds a rough guide, not a test). The last column counts the metrics
    ``method`` wins. None when ``method`` has no finished run.
    """
    if not any(c.method == method for c in cells):
        return None
    out = [
        f"# {suite}: {S.METHOD_LABELS.get(method, method)} against every other method",
        "",
        "Difference of target-test means, **+ = "
        f"{S.METHOD_LABELS.get(method, method)} better** (MAE: lower), accuracies and F1 in "
        "points; `*`: |difference| > √(s₁² + s₂²) of the two rows' seed stds.",
    ]
    for bench, group in by_benchmark(cells):
        for d in directions_of(group, bench):
            sub = in_order([c for c in group if c.direction == d], list(S.MAIN_METHODS))
            ref = next((c for c in sub if c.method == method), None)
            if ref is None:
                continue
            keys = [k for col in COLUMNS[ref.task] for k in col.keys if k in ref.mean]
            cols = {k: col for col in COLUMNS[ref.task] for k in col.keys}
            out += ["", f"## {bench} {short_direction(d, group)} (n = {ref.n} seeds)", ""]
            out += [f"{line}  " for line in (data or {}).get(bench, [])]
            out += [""] if (data or {}).get(bench) else []
            out.append("| vs | " + " | ".join(keys) + " | wins |")
            out.append("|---|" + "---:|" * len(keys) + "---:|")
            for c in sub:
                if c is ref:
                    continue
                cells_txt, wins = [], 0
                for k in keys:
                    if k not in c.mean:
                        cells_txt.append(MISSING)
                        continue
                    sign = -1.0 if METRIC_DIRECTIONS.get(k) == "min" else 1.0
                    diff = sign * (ref.mean[k] - c.mean[k])
                    scale, digits = scale_of(cols[k])
                    noise = math.hypot(ref.std.get(k, 0.0), c.std.get(k, 0.0))
                    mark = "*" if ref.n > 1 and c.n > 1 and abs(diff) > noise else ""
                    cells_txt.append(f"{diff * scale:+.{digits}f}{mark}")
                    wins += diff > 0
                name = c.label + (f" {ORACLE_MARK}" if c.uses_target_labels else "")
                out.append(f"| {name} | " + " | ".join(cells_txt) + f" | {wins}/{len(keys)} |")
    return "\n".join(out) + "\n"

"""The test-time methods: the task each applies to, what each needs from the run folder, and
the defaults declared before any measurement (docs/method.md "Test-time adaptation").

Defaults (fixed from the published code, scaled to osan's budget; never from target numbers):
Adam, batch 64, the model in eval mode (dropout off: the statistics the losses match are the
ones evaluation sees), ``epochs`` passes over the target's unlabelled train split (10: the
generated benchmarks' target train splits hold 250-1000 rows, a handful of steps per pass,
where the papers adapt for hundreds of steps):

- ``adabn``: no gradient step;
- ``ssa``: lr 1e-3, weight decay 0 (the SSA authors' configs), k = 64 directions, α bias 1;
- ``tent``: lr 1e-3 (TENT's Adam setting);
- ``shot-im``: lr 1e-4 = 0.1 × osan's training lr (SHOT trains the backbone at 0.1 × its lr),
  no pseudo-labels (β = 0; SHOT's is 0.3).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TestTimeMethod:
    name: str
    tasks: tuple[str, ...]
    epochs: int  # default passes over the target train split
    lr: float  # default Adam learning rate (unused without gradient steps)
    needs_source_stats: bool = False


METHODS: dict[str, TestTimeMethod] = {
    m.name: m
    for m in (
        TestTimeMethod("adabn", ("regression", "classification"), 0, 0.0),
        TestTimeMethod("ssa", ("regression",), 10, 1e-3, needs_source_stats=True),
        TestTimeMethod("tent", ("classification",), 10, 1e-3),
        TestTimeMethod("shot-im", ("classification",), 10, 1e-4),
    )
}


def applicable(task: str) -> list[str]:
    """The test-time methods of a task, in table order."""
    return [m.name for m in METHODS.values() if task in m.tasks]


def needing_source_stats() -> list[str]:
    return [m.name for m in METHODS.values() if m.needs_source_stats]

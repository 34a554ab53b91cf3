"""Case-study helpers: cosine nearest neighbours and an unbiased, reproducible sample choice."""

from __future__ import annotations

import numpy as np
import pytest

from osan.report.cases import choose_cases, cosine_nearest, fmt_label


def test_nearest_is_by_angle_not_distance():
    source = np.array([[10.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    target = np.array([[0.1, 0.0], [0.0, 5.0], [1.0, -1.0]])
    idx, sim = cosine_nearest(target, source)
    # (0.1, 0) is nearest to (0, 1) by distance but to (10, 0) by angle
    assert idx.tolist() == [0, 1, 0]
    assert sim == pytest.approx([1.0, 1.0, 2**-0.5])  # (1, -1): cos 0.707, -0.707, 0


def test_choice_is_seeded_and_ids_can_be_named():
    ids = [f"t{i}" for i in range(50)]
    a = choose_cases(ids, 4, seed=0)
    assert a == choose_cases(ids, 4, seed=0) and a != choose_cases(ids, 4, seed=1)
    assert len(set(a)) == 4 and a == sorted(a)
    assert choose_cases(ids, 4, 0, chosen=["t7", "t3"]) == [7, 3]
    with pytest.raises(KeyError, match="nope"):
        choose_cases(ids, 4, 0, chosen=["nope"])


def test_labels_are_formatted_per_task():
    assert fmt_label(1.234, "regression", None) == "+1.23"
    assert fmt_label(2, "classification", ["a", "b", "c"]) == "c"
    assert fmt_label(None, "regression", None) == "—"

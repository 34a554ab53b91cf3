import math

import numpy as np
import pytest
import torch

from osan.eval.metrics import (
    METRIC_DIRECTIONS,
    classification_metrics,
    primary_metric,
    regression_metrics,
)

# A hand-computed MOSI-style case.
#   idx:    0     1     2     3     4     5
TRUE = [3.0, 0.0, -1.0, 1.4, -2.6, 0.0]
PRED = [4.2, -0.4, 0.2, 1.6, -3.5, 0.6]


def test_regression_hand_computed():
    m = regression_metrics(np.array(PRED), np.array(TRUE))
    # |err| = 1.2, 0.4, 1.2, 0.2, 0.9, 0.6 -> 4.5 / 6
    assert m["mae"] == pytest.approx(0.75)
    # clip to [-3, 3] and round: pred 3, -0, 0, 2, -3, 1; true 3, 0, -1, 1, -3, 0 -> idx 0, 1, 4.
    # Without clipping idx 0 (4.2 -> 4) and idx 4 (-3.5 -> -4) would miss.
    assert m["acc7"] == pytest.approx(3 / 6)
    # clip to [-2, 2]: pred 2, -0, 0, 2, -2, 1; true 2, 0, -1, 1, -2, 0 -> idx 0, 1, 4
    assert m["acc5"] == pytest.approx(3 / 6)
    # has-0: true >= 0 = T T F T F T; pred >= 0 = T F T T F T -> wrong at idx 1, 2
    assert m["acc2_has0"] == pytest.approx(4 / 6)
    # class T (support 4): TP 3 of 4 predicted -> P = R = F1 = 3/4
    # class F (support 2): TP 1 of 2 predicted -> P = R = F1 = 1/2 -> (4*.75 + 2*.5)/6
    assert m["f1_has0"] == pytest.approx(2 / 3)
    # non-0: drop idx 1, 5 (true == 0). idx 0, 2, 3, 4: true > 0 = T F T F, pred > 0 = T T T F
    assert m["acc2_non0"] == pytest.approx(3 / 4)
    # class T (support 2): P 2/3, R 1 -> F1 4/5; class F (support 2): P 1, R 1/2 -> F1 2/3
    # weighted by TRUE support: (2*4/5 + 2*2/3)/4 = 11/15. The swapped argument order would
    # weight by predicted support (3, 1): (3*4/5 + 2/3)/4 = 23/30.
    assert m["f1_non0"] == pytest.approx(11 / 15)
    assert m["f1_non0"] != pytest.approx(23 / 30)
    assert m["corr"] == pytest.approx(np.corrcoef(PRED, TRUE)[0, 1])
    assert set(m) == {"mae", "corr", "acc7", "acc5", "acc2_has0", "acc2_non0", "f1_has0", "f1_non0"}
    assert all(isinstance(v, float) for v in m.values())


def test_regression_accepts_tensors_and_column_vectors():
    a = regression_metrics(np.array(PRED), np.array(TRUE))
    b = regression_metrics(torch.tensor(PRED).view(-1, 1), torch.tensor(TRUE, dtype=torch.float64))
    for k in a:
        assert b[k] == pytest.approx(a[k], abs=1e-6)


def test_corr_hand_computed_and_constant_side():
    # centred pred -1, 0, 1 and true -1, 1, 0: dot 1, norms sqrt(2) * sqrt(2) -> 0.5
    assert regression_metrics([1.0, 2.0, 3.0], [1.0, 3.0, 2.0])["corr"] == pytest.approx(0.5)
    assert regression_metrics([1.0, 2.0, 3.0], [3.0, 2.0, 1.0])["corr"] == pytest.approx(-1.0)
    # a constant (collapsed) prediction: 0.0 by our convention, never NaN
    assert regression_metrics([0.3, 0.3, 0.3], [1.0, -2.0, 0.5])["corr"] == 0.0


def test_acc7_rounds_half_to_even_like_numpy():
    # np.round: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0
    m = regression_metrics([0.5, 1.5, 2.5, -0.5], [0.0, 2.0, 2.0, 0.0])
    assert m["acc7"] == 1.0


def test_all_true_zero_makes_non0_undefined():
    m = regression_metrics([0.2, -0.1], [0.0, 0.0])
    assert math.isnan(m["acc2_non0"]) and math.isnan(m["f1_non0"])
    assert m["acc2_has0"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("pred", "true", "match"),
    [
        ([1.0, 2.0], [1.0], "length"),
        ([], [], "empty"),
        ([1.0, float("nan")], [1.0, 2.0], "NaN"),
        ([1.0, float("inf")], [1.0, 2.0], "NaN or inf"),
        (np.zeros((2, 2)), np.zeros((2, 2)), "1-D"),
    ],
)
def test_regression_validation(pred, true, match):
    with pytest.raises(ValueError, match=match):
        regression_metrics(np.asarray(pred), np.asarray(true))


NAMES = ["caption", "subtitle", "others"]
Y = [0, 0, 0, 1, 1, 2]
P = [0, 0, 1, 1, 2, 2]


def test_classification_hand_computed():
    m = classification_metrics(np.array(P), np.array(Y), NAMES)
    # caption: support 3, predicted at 0, 1 -> TP 2: P 1, R 2/3, F1 4/5
    # subtitle: support 2, predicted at 2, 3 -> TP 1: P 1/2, R 1/2, F1 1/2
    # others: support 1, predicted at 4, 5 -> TP 1: P 1/2, R 1, F1 2/3
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["precision"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert m["recall"] == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    assert m["f1"] == pytest.approx(59 / 90)  # (72 + 45 + 60) / 90 / 3
    assert m["precision_weighted"] == pytest.approx((3 * 1 + 2 * 0.5 + 1 * 0.5) / 6)
    assert m["recall_weighted"] == pytest.approx(4 / 6)  # weighted recall == accuracy
    assert m["f1_weighted"] == pytest.approx(61 / 90)  # (3*4/5 + 2*1/2 + 2/3) / 6
    pc = m["per_class"]
    assert list(pc) == NAMES
    assert pc["caption"] == pytest.approx(
        {"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3}
    )
    assert pc["others"] == pytest.approx(
        {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    )


def test_classification_scores_and_absent_class():
    logits = torch.full((6, 4), -1.0)
    logits[torch.arange(6), torch.tensor(P)] = 2.0
    m = classification_metrics(logits, torch.tensor(Y), 4)
    # class "3" never occurs: listed with zeros, but it does not pull the macro average down
    assert m["f1"] == pytest.approx(59 / 90)
    assert m["per_class"]["3"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_classification_validation():
    with pytest.raises(ValueError, match="outside"):
        classification_metrics(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="columns"):
        classification_metrics(np.zeros((2, 2)), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="integer"):
        classification_metrics(np.array([0.5, 1.0]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="length"):
        classification_metrics(np.array([0, 1, 1]), np.array([0, 1]), 3)


def test_directions_and_primary():
    assert METRIC_DIRECTIONS["mae"] == "min"
    assert all(v == "max" for k, v in METRIC_DIRECTIONS.items() if k != "mae")
    assert primary_metric("regression") == "mae"
    assert primary_metric("classification") == "f1"
    assert set(regression_metrics([1.0, -1.0], [1.0, -1.0])) <= set(METRIC_DIRECTIONS)
    with pytest.raises(ValueError):
        primary_metric("ranking")

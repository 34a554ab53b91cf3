"""IWDAN-style class-ratio weights estimated from predictions (osan.alignment.label_shift)."""

import torch

from osan.alignment.label_shift import LabelShiftWeights


def test_regression_bins_split_negative_neutral_positive():
    ls = LabelShiftWeights("regression", 1, neutral=0.5)
    y = torch.tensor([-3.0, -0.6, -0.5, 0.0, 0.5, 0.6, 3.0])
    assert ls.bin_of(y).tolist() == [0, 0, 1, 1, 1, 2, 2]


def test_ratio_converges_to_target_over_source_frequencies():
    ls = LabelShiftWeights("classification", 3, momentum=0.5, clip=(0.01, 100.0))
    y_s = torch.tensor([0] * 50 + [1] * 25 + [2] * 25)  # p_s = (.5, .25, .25)
    logits_t = torch.eye(3)[torch.tensor([0] * 10 + [1] * 10 + [2] * 80)]  # q_t = (.1, .1, .8)
    for _ in range(60):
        ls.update(y_s, logits_t)
    torch.testing.assert_close(ls.ratio(), torch.tensor([0.2, 0.4, 3.2]), rtol=1e-4, atol=1e-4)
    w = ls.weights(y_s)
    torch.testing.assert_close(w.mean(), torch.tensor(1.0))
    # a class the target has more of weighs more on the source side
    assert w[-1] > w[60] > w[0]


def test_equal_frequencies_give_unit_weights_and_clipping_bounds_them():
    ls = LabelShiftWeights("classification", 2, momentum=0.0, clip=(0.5, 2.0))
    y = torch.tensor([0, 1, 0, 1])
    ls.update(y, torch.eye(2)[y])
    torch.testing.assert_close(ls.weights(y), torch.ones(4))
    ls.update(torch.tensor([0, 0, 0, 1]), torch.eye(2)[torch.tensor([1, 1, 1, 1])])
    assert ls.ratio().tolist() == [0.5, 2.0]

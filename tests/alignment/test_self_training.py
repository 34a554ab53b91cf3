"""Self-training on the target (osan.alignment.self_training)."""

import torch
import torch.nn.functional as F

from osan.alignment.self_training import drop_time_steps, self_training_loss
from osan.types import Batch


def _batch(b=64, steps=40, dim=6):
    feats = {"text": torch.randn(b, steps, dim) + 5.0, "audio": torch.randn(b, 1, dim) + 5.0}
    lengths = {"text": torch.full((b,), steps), "audio": torch.ones(b, dtype=torch.long)}
    return Batch(features=feats, lengths=lengths, label=None, index=torch.arange(b))


def test_drop_time_steps_zeroes_whole_steps_at_the_rate_and_keeps_the_rest():
    batch = _batch()
    view = drop_time_steps(batch, 0.3, torch.Generator().manual_seed(0))
    x, v = batch.features["text"], view.features["text"]
    dropped = (v == 0).all(dim=-1)  # (B, L): a step is dropped whole or not at all
    assert ((v == 0) == dropped.unsqueeze(-1)).all()
    assert 0.25 < dropped.float().mean() < 0.35
    torch.testing.assert_close(v[~dropped], x[~dropped])
    assert view.lengths is batch.lengths and view.label is None


def test_a_single_step_modality_gets_element_dropout():
    view = drop_time_steps(_batch(), 0.5, torch.Generator().manual_seed(1))
    a = view.features["audio"]
    frac = (a == 0).float().mean()
    assert 0.4 < frac < 0.6


def test_rate_zero_is_the_identity():
    batch = _batch()
    assert drop_time_steps(batch, 0.0, None) is batch


def test_regression_loss_is_squared_error_to_the_detached_teacher():
    student = torch.randn(8, requires_grad=True)
    teacher = torch.randn(8, requires_grad=True)
    loss = self_training_loss(student, teacher, "regression", 0.9)
    torch.testing.assert_close(loss, F.mse_loss(student, teacher.detach()))
    loss.backward()
    assert teacher.grad is None and student.grad is not None


def test_classification_loss_counts_only_confident_rows():
    teacher = torch.tensor([[10.0, 0.0], [0.1, 0.0], [0.0, 10.0]])  # rows 0 and 2 confident
    student = torch.randn(3, 2)
    loss = self_training_loss(student, teacher, "classification", 0.9)
    ce = F.cross_entropy(student, torch.tensor([0, 0, 1]), reduction="none")
    torch.testing.assert_close(loss, (ce[0] + ce[2]) / 3)
    assert self_training_loss(student, teacher, "classification", 1.01) == 0


def test_centred_regression_loss_ignores_a_shift_of_either_view():
    student, teacher = torch.randn(16), torch.randn(16)
    loss = self_training_loss(student, teacher, "regression", 0.9, center=True)
    torch.testing.assert_close(
        self_training_loss(student + 3.0, teacher - 1.0, "regression", 0.9, center=True), loss
    )
    assert self_training_loss(student + 3.0, teacher, "regression", 0.9) > loss

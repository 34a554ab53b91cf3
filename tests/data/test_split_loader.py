"""SplitLoader's unshuffled batches (views of consecutive rows) equal the gathered ones."""

import numpy as np
import torch

from osan.data.domain import Split, SplitLoader


def _split(n: int = 23, labelled: bool = True) -> Split:
    rng = np.random.default_rng(0)
    return Split(
        features={
            "text": rng.standard_normal((n, 7, 5)).astype(np.float32),
            "audio": rng.standard_normal((n, 4, 3)).astype(np.float32),
        },
        lengths={"text": rng.integers(1, 8, n), "audio": rng.integers(1, 5, n)},
        labels=rng.uniform(-3, 3, n).astype(np.float32) if labelled else None,
        ids=[str(i) for i in range(n)],
    )


def _assert_same(a, b) -> None:
    assert a.features.keys() == b.features.keys()
    for m in a.features:
        assert torch.equal(a.features[m], b.features[m])
        assert torch.equal(a.lengths[m], b.lengths[m])
    assert (a.label is None) == (b.label is None)
    if a.label is not None:
        assert torch.equal(a.label, b.label)
    assert torch.equal(a.index, b.index)


def test_in_order_batches_equal_the_gathered_rows():
    for labelled in (True, False):
        loader = SplitLoader(_split(labelled=labelled), 5, labelled=labelled)
        batches = list(loader)
        assert [b.size for b in batches] == [5, 5, 5, 5, 3]
        for k, b in enumerate(batches):
            idx = torch.arange(5 * k, min(5 * k + 5, 23))
            _assert_same(b, loader.batch(idx))


def test_shuffled_batches_unchanged_by_the_in_order_path():
    loader = SplitLoader(_split(), 4, shuffle=True, drop_last=True, seed=3)
    order = torch.randperm(23, generator=torch.Generator().manual_seed(3))
    for k, b in enumerate(loader):
        _assert_same(b, loader.batch(order[4 * k : 4 * k + 4]))

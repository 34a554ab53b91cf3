import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Tiny tensors run fastest on one thread, and CI shares 2 cores with nothing else."""
    torch.set_num_threads(1)
    yield

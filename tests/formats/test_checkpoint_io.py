"""checkpoint_io: safetensors / npz reading and writing, checked against the safetensors package and mx.load."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from mlxquant import InputTypeError, InvalidArgumentError, ModelFormatError
from mlxquant.checkpoint_io import (
    bf16_bits_to_float32,
    checkpoint_files,
    float32_to_bf16_bits,
    iter_tensors,
    list_tensors,
    read_tensor,
    write_safetensors,
)

ml_dtypes = pytest.importorskip("ml_dtypes")
st_numpy = pytest.importorskip("safetensors.numpy")

DTYPES = ["float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8",
          "bool"]


def _arrays(rng):
    out = {}
    for i, dt in enumerate(DTYPES):
        shape = [(3, 5), (7,), (0, 4), (1,), (2, 3, 4)][i % 5]
        out[f"t.{dt}"] = (rng.standard_normal(shape) * 50).astype(dt)
    out["t.bf16"] = rng.standard_normal((4, 6)).astype(np.float32).astype(ml_dtypes.bfloat16)
    return out


def test_roundtrip_against_safetensors_package(tmp_path):
    rng = np.random.default_rng(0)
    arrays = _arrays(rng)
    # our writer -> the reference reader
    p = tmp_path / "ours.safetensors"
    write_safetensors(p, arrays, metadata={"format": "mlx"})
    ref = st_numpy.load_file(str(p))
    assert set(ref) == set(arrays)
    for k, a in arrays.items():
        assert ref[k].dtype == a.dtype and ref[k].shape == a.shape
        np.testing.assert_array_equal(ref[k].view(np.uint8), a.view(np.uint8))
    # the reference writer -> our reader
    q = tmp_path / "ref.safetensors"
    st_numpy.save_file(arrays, str(q))
    infos = {t.name: t for t in list_tensors(q)}
    for k, a in arrays.items():
        got = read_tensor(q, k)
        if k == "t.bf16":
            assert infos[k].dtype == "bfloat16"
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, a.astype(np.float32))  # exact widening
            np.testing.assert_array_equal(read_tensor(q, k, raw=True), a.view(np.uint16))
        else:
            assert infos[k].dtype == a.dtype.name and infos[k].shape == a.shape and infos[k].nbytes == a.nbytes
            assert got.dtype == a.dtype
            np.testing.assert_array_equal(got, a)


def test_mx_load_reads_our_file(tmp_path):
    mx = pytest.importorskip("mlx.core")
    p = tmp_path / "m.safetensors"
    w = mx.random.normal((8, 16)).astype(mx.bfloat16)
    write_safetensors(p, {"w": w, "q": np.arange(6, dtype=np.uint32).reshape(2, 3)}, metadata={"format": "mlx"})
    got = mx.load(str(p))
    assert got["w"].dtype == mx.bfloat16
    assert mx.array_equal(got["w"], w).item()
    np.testing.assert_array_equal(np.array(got["q"]), np.arange(6, dtype=np.uint32).reshape(2, 3))
    np.testing.assert_array_equal(read_tensor(p, "w"), np.array(w.astype(mx.float32)))


def test_bf16_conversions_match_ml_dtypes():
    x = np.array([0.0, -0.0, 1.0, 1.00390625, 1.005859375, 3.14159, 1e38, 3.4e38, np.inf, -np.inf, 1e-40, np.nan],
                 dtype=np.float32)
    x = np.concatenate([x, np.random.default_rng(1).standard_normal(1000).astype(np.float32)])
    with np.errstate(over="ignore"):
        ref = x.astype(ml_dtypes.bfloat16).view(np.uint16)
    np.testing.assert_array_equal(float32_to_bf16_bits(x), ref)
    np.testing.assert_array_equal(bf16_bits_to_float32(ref), ref.view(ml_dtypes.bfloat16).astype(np.float32))


def test_iter_and_sharded_index(tmp_path):
    rng = np.random.default_rng(2)
    a = {"a.weight": rng.standard_normal((4, 4)).astype(np.float32)}
    b = {"b.weight": rng.standard_normal((2, 8)).astype(np.float16), "b.bias": np.zeros(2, np.float16)}
    write_safetensors(tmp_path / "model-00001-of-00002.safetensors", a)
    write_safetensors(tmp_path / "model-00002-of-00002.safetensors", b)
    index = {"metadata": {}, "weight_map": {"a.weight": "model-00001-of-00002.safetensors",
                                            "b.weight": "model-00002-of-00002.safetensors",
                                            "b.bias": "model-00002-of-00002.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    assert len(checkpoint_files(tmp_path)) == 2
    got = dict(iter_tensors(tmp_path))
    assert set(got) == {"a.weight", "b.weight", "b.bias"}
    for k, v in {**a, **b}.items():
        np.testing.assert_array_equal(got[k], v)
    assert [n for n, _ in iter_tensors(tmp_path, names=["b.bias"])] == ["b.bias"]
    with pytest.raises(KeyError, match="no tensor 'nope'"):
        read_tensor(tmp_path, "nope")


def test_npz(tmp_path):
    p = tmp_path / "w.npz"
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.savez(p, x=x, y=np.ones(3, np.float16))
    infos = {t.name: t for t in list_tensors(p)}
    assert infos["x"].shape == (3, 4) and infos["x"].dtype == "float32" and infos["y"].dtype == "float16"
    np.testing.assert_array_equal(read_tensor(p, "x"), x)


def test_name_collision_between_shards(tmp_path):
    write_safetensors(tmp_path / "a.safetensors", {"w": np.zeros(2, np.float32)})
    write_safetensors(tmp_path / "b.safetensors", {"w": np.ones(2, np.float32)})
    with pytest.raises(ModelFormatError, match="collision"):
        list_tensors(tmp_path)


@pytest.mark.parametrize("cut", [0, 5, 8, 20, -1])
def test_truncated_file(tmp_path, cut):
    p = tmp_path / "m.safetensors"
    write_safetensors(p, {"w": np.ones((16, 16), np.float32)})
    data = p.read_bytes()
    q = tmp_path / "t.safetensors"
    q.write_bytes(data[:cut] if cut >= 0 else data[:-4])
    with pytest.raises(ModelFormatError, match=r"truncated|not a valid|corrupt"):
        list_tensors(q)


def test_corrupt_header_and_unknown_dtype(tmp_path):
    bad = tmp_path / "bad.safetensors"
    hdr = b"{not json"
    bad.write_bytes(struct.pack("<Q", len(hdr)) + hdr)
    with pytest.raises(ModelFormatError, match="corrupt"):
        list_tensors(bad)
    f8 = tmp_path / "f8.safetensors"
    hdr = json.dumps({"x": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}}).encode()
    f8.write_bytes(struct.pack("<Q", len(hdr)) + hdr + b"\0" * 4)
    (t,) = list_tensors(f8)
    assert t.dtype == "F8_E4M3"
    with pytest.raises(ModelFormatError, match=r"F8_E4M3.*cannot read"):
        read_tensor(f8, "x")
    wrong = tmp_path / "wrong.safetensors"
    hdr = json.dumps({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}).encode()
    wrong.write_bytes(struct.pack("<Q", len(hdr)) + hdr + b"\0" * 8)
    with pytest.raises(ModelFormatError, match="needs 16 bytes"):
        list_tensors(wrong)


def test_bad_paths_and_dtypes(tmp_path):
    with pytest.raises(ModelFormatError, match="does not exist"):
        list_tensors(tmp_path / "missing.safetensors")
    (tmp_path / "x.bin").write_bytes(b"0")
    with pytest.raises(ModelFormatError, match="unknown checkpoint format"):
        list_tensors(tmp_path / "x.bin")
    with pytest.raises(InputTypeError, match="cannot write dtype"):
        write_safetensors(tmp_path / "c.safetensors", {"c": np.zeros(2, np.complex64)})
    assert not list(tmp_path.glob("*.partial"))
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(ModelFormatError, match="npz"):
        list_tensors(junk)


def test_writer_refuses_duplicates_and_wrong_order(tmp_path):
    from mlxquant.checkpoint_io import SafetensorsWriter

    with open(tmp_path / "w.safetensors", "wb") as f:
        with pytest.raises(InvalidArgumentError, match="collision"):
            SafetensorsWriter(f, [("a", "float32", (2,)), ("a", "float32", (2,))])
    with open(tmp_path / "w.safetensors", "wb") as f:
        w = SafetensorsWriter(f, [("a", "float32", (2,)), ("b", "bfloat16", (1,))])
        with pytest.raises(InvalidArgumentError, match="declared order"):
            w.write("b", np.zeros(1, np.uint16))
        with pytest.raises(InvalidArgumentError, match="shape"):
            w.write("a", np.zeros(3, np.float32))
        w.write("a", np.zeros(2, np.float32))
        with pytest.raises(InvalidArgumentError, match="never written"):
            w.close()

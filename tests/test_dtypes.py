"""QTYPES and the dtype lookup."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import mlxquant as mq
from mlxquant.quant.dtypes import qtype

ONNX_RANGES = {  # REFERENCE §2 (ONNX QuantizeLinear saturation ranges)
    "int2": (-2, 1), "uint2": (0, 3), "int4": (-8, 7), "uint4": (0, 15), "int8": (-128, 127), "uint8": (0, 255),
    "int16": (-32768, 32767), "uint16": (0, 65535), "int32": (-(2**31), 2**31 - 1),
}


@pytest.mark.parametrize("name", list(ONNX_RANGES))
def test_ranges(name: str) -> None:
    q = mq.QTYPES[name]
    assert (q.qmin, q.qmax) == ONNX_RANGES[name]
    assert q.signed == (not name.startswith("u"))
    assert np.iinfo(q.storage).min <= q.qmin and q.qmax <= np.iinfo(q.storage).max


def test_narrow() -> None:
    assert mq.QTYPES["int8"].narrow() == (-127, 127)
    assert mq.QTYPES["uint8"].narrow() == (0, 255)


@pytest.mark.parametrize(
    "spec, name",
    [(np.int8, "int8"), (np.dtype("uint8"), "uint8"), ("int16", "int16"), (ml_dtypes.int4, "int4"),
     (ml_dtypes.uint4, "uint4"), (np.uint16, "uint16")],
)
def test_lookup_by_dtype(spec: object, name: str) -> None:
    assert qtype(spec).name == name


def test_lookup_mlx_dtype() -> None:
    import mlx.core as mx

    assert qtype(mx.int8).name == "int8"
    assert qtype(mx.uint16).name == "uint16"


@pytest.mark.parametrize("bad", ["int3", "float32", np.float32, 3, None])
def test_unknown_dtype_lists_valid(bad: object) -> None:
    with pytest.raises(mq.InvalidDtypeError, match="valid dtypes are: int2, uint2, int4"):
        qtype(bad)
    with pytest.raises(ValueError):  # the hierarchy derives from ValueError
        qtype(bad)

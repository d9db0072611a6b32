"""Late fixes from the spec review: pad colours are validated, colour conversion never returns the caller's array,
and an added alpha is opaque for every integer dtype."""

from __future__ import annotations

import numpy as np
import pytest

import mlxquant as mq
from tests.helpers import as_backend


@pytest.mark.parametrize("color", [300, -1, 114.6, (114, 114, 256)])
def test_pad_colour_out_of_range_raises(color: object) -> None:
    img = np.zeros((2, 2, 3), np.uint8)
    with pytest.raises(mq.InvalidArgumentError, match="not representable in a uint8 image"):
        mq.vision.pad_image(img, 0, 1, 0, 0, color)
    with pytest.raises(mq.InvalidArgumentError):
        mq.vision.letterbox(np.zeros((10, 20, 3), np.uint8), (32, 32), color=color)


def test_pad_colour_valid_values() -> None:
    out = mq.vision.pad_image(np.zeros((1, 1, 1), np.uint8), 0, 1, 0, 0, 255.0)
    assert out.ravel().tolist() == [0, 255]
    out = mq.vision.pad_image(np.zeros((1, 1, 1), np.float32), 0, 1, 0, 0, 0.5)
    assert out.ravel().tolist() == [0.0, 0.5]


def test_convert_color_same_order_is_a_copy(backend: str) -> None:
    x = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    xb = as_backend(x, backend)
    y = mq.vision.convert_color(xb, "rgb", "rgb")
    assert y is not xb
    np.testing.assert_array_equal(mq.to_numpy(y), x)
    if backend == "numpy":
        assert not np.shares_memory(y, xb)
        y[0, 0, 0] = 99  # writable, and the input is untouched
        assert x[0, 0, 0] == 0


@pytest.mark.parametrize("dtype, alpha", [("uint8", 255), ("uint16", 65535), ("int8", 127), ("int16", 32767),
                                          ("float32", 1.0)])
def test_added_alpha_is_opaque(backend: str, dtype: str, alpha: float) -> None:
    x = as_backend(np.zeros((1, 2, 3), dtype), backend)
    y = mq.to_numpy(mq.vision.convert_color(x, "bgr", "rgba"))
    assert y.dtype == np.dtype(dtype)
    assert y[..., 3].tolist() == [[alpha, alpha]]

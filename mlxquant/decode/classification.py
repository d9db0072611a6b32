"""Classification decoding: stable softmax (or sigmoid for multi-label), temperature, top-k, labels."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._backend import Backend, to_numpy
from .._errors import InvalidArgumentError, NonFiniteError, ShapeError
from .diagnostics import dequantize_output
from .labels import resolve_labels
from .results import Classification, ClassificationBatch

__all__ = ["classify", "softmax", "topk_indices"]


def softmax(b: Backend, x: Any, axis: int = -1) -> Any:
    """Stable softmax: ``exp(x - max) / sum(exp(x - max))`` along ``axis`` (float32)."""
    m = b.max(x, axis=axis, keepdims=True)
    e = b.exp(x - m)
    return e / b.sum(e, axis=axis, keepdims=True)


def topk_indices(b: Backend, p: Any, k: int) -> Any:
    """Indices of the ``k`` largest values per row of ``p`` [B, C], best first; ties: lower index first.

    Sorts unique int64 keys (order-preserving float bits, then the index) so the result does not depend on the
    stability of the backend's sort.
    """
    n = p.shape[-1]
    s = p + b.const(0.0, "float32")  # -0.0 -> +0.0
    i = b.astype(b.view(s, "int32"), "int64")
    two31 = b.const(2**31, "int64")
    u = b.where(i >= b.const(0, "int64"), i + two31, b.const(-1, "int64") - i)
    key = (b.const(2**32 - 1, "int64") - u) * two31 + b.arange(n, dtype="int64")[None, :]
    order = b.argsort(key, axis=-1)
    return b.astype(order[:, :k], "int32")


def classify(
    output: Any,
    *,
    topk: int = 5,
    labels: Any = "imagenet",
    softmax: bool = True,
    temperature: float = 1.0,
    quant: Any = None,
    multi_label: bool = False,
    backend: str | None = None,
) -> ClassificationBatch:
    """Top-k classes of a classifier output (a batch).

    Probabilities: ``softmax(x / temperature)`` (stable: the row maximum is subtracted first), or with
    ``multi_label=True`` an independent ``sigmoid(x / temperature)`` per class; ``softmax=False`` takes the output
    as scores already (no transform; temperature must then be 1). Top-k: descending logit ``x / temperature`` (the
    order of the scores, also where saturated sigmoid or underflowed softmax scores round equal), equal logits to
    the lower index; ``topk`` is capped at the number of classes. A model with one more class than the labels
    (1001 vs 1000) has a background column at index 0: its label is ``"background"`` and class ``k`` is
    ``labels[k - 1]``.

    Args:
        output: logits / scores ``[C]`` or ``[B, C]`` (trailing 1-sized axes, e.g. ``[B, C, 1, 1]``, are dropped);
            integer outputs need ``quant``.
        topk: number of classes per image (>= 1).
        labels: a label set name (``"imagenet"``, ``"coco80"``, ``"cifar10"``, ...), a sequence of names, or None.
        softmax: apply softmax (ignored with ``multi_label``, which applies sigmoid).
        temperature: > 0, divides the logits first.
        quant: ``(scale, zero_point)`` for a quantized output.
        multi_label: sigmoid per class instead of softmax.
        backend: force ``"numpy"`` or ``"mlx"``.

    Returns:
        A :class:`ClassificationBatch` (one :class:`Classification` per image; a ``[C]`` input gives a batch of 1).

    Raises:
        ShapeError: not ``[C]`` / ``[B, C]``, or labels shorter than the classes.
        InvalidArgumentError: ``topk < 1`` or ``temperature <= 0``.
        NonFiniteError: NaN in the output; with softmax, a +inf logit or a row of -inf logits.

    Example:
        >>> import numpy as np
        >>> r = classify(np.array([1.0, 3.0, 3.0, 0.5], np.float32), topk=2, labels=["a", "b", "c", "d"])
        >>> r[0].indices.tolist(), r[0].labels, [round(float(s), 4) for s in r[0].scores]
        ([1, 2], ('b', 'c'), [0.451, 0.451])
    """
    if isinstance(topk, bool) or not isinstance(topk, (int, np.integer)) or topk < 1:
        raise InvalidArgumentError(f"topk must be an int >= 1, got {topk!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
        temperature > 0 and math.isfinite(temperature)
    ):
        raise InvalidArgumentError(f"temperature must be a finite number > 0, got {temperature!r}")
    b, x = dequantize_output(output, quant, name="classifier output", backend=backend)
    shape = tuple(int(d) for d in x.shape)
    while len(shape) > 2 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) == 1:
        shape = (1, shape[0])
    if len(shape) != 2 or shape[1] < 1:
        raise ShapeError(f"classifier output has shape {tuple(x.shape)}, expected (C,) or (B, C)")
    x = b.reshape(x, shape)
    xn = to_numpy(x)
    if np.isnan(xn).any():
        raise NonFiniteError("classifier output contains NaN; check the model input (NaN or inf pixels?)")
    if softmax and not multi_label:
        # softmax is undefined (NaN: inf - inf) for a +inf logit or a row of -inf logits (torch gives NaN too)
        bad_pos = np.isposinf(xn).any(axis=1)
        bad_neg = np.isneginf(xn).all(axis=1)
        if bad_pos.any() or bad_neg.any():
            r = int(np.flatnonzero(bad_pos | bad_neg)[0])
            what = "a +inf logit" if bad_pos[r] else "only -inf logits"
            raise NonFiniteError(f"classifier output row {r} has {what}: softmax is undefined there; check the "
                                 "model (float16 overflow?) or pass softmax=False")
    lab, offset = resolve_labels(labels, shape[1], what="classifier output")
    if temperature != 1.0:
        x = x / b.const(temperature, "float32")
    if multi_label:
        p = b.sigmoid(x)
    elif softmax:
        p = _softmax(b, x)
    else:
        if temperature != 1.0:
            raise InvalidArgumentError("temperature needs softmax=True or multi_label=True (it scales logits)")
        p = x
    k = min(int(topk), shape[1])
    # Ranked by the logits x / T, on which softmax and sigmoid are monotone: same order as p wherever p differs,
    # and scores that round equal in float32 (saturated sigmoid, underflowed softmax) keep the logits' order.
    idx = topk_indices(b, x, k)
    sc = b.take_along_axis(p, b.astype(idx, "int32"), axis=-1)
    idx_np = to_numpy(idx)
    items = []
    for r in range(shape[0]):
        names = tuple(lab[i] for i in idx_np[r]) if lab is not None else tuple(str(int(i)) for i in idx_np[r])
        items.append(Classification(idx[r], sc[r], names, offset))
    return ClassificationBatch(items)


_softmax = softmax

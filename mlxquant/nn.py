"""Quantization-aware training on MLX: QAT layers, ``prepare_qat`` and ``convert``.

* :class:`QATLinear` / :class:`QATConv2d` fake-quantize their weights and (optionally) their input activations in
  the forward pass; gradients flow through the core :func:`~mlxquant.quant.primitives.fake_quantize`'s
  straight-through estimator (or, for the group-wise MLX scheme, an identity STE — its affine range always covers
  the group, so nothing saturates).
* Weights: ``weight_scheme="channel"`` (default) is symmetric per output channel, narrow range
  ([-2^(b-1)+1, 2^(b-1)-1]), the core's ``choose_qparams(..., axis=0)``; ``weight_scheme="group"`` is MLX's
  group-wise affine ``mx.quantize`` (Linear only), so that :func:`convert` can produce ``nn.QuantizedLinear``.
* Activations: per-tensor affine (``act_bits``; ``None`` disables), qparams from a
  :class:`~mlxquant.MovingAverageMinMaxObserver` updated in training mode and frozen in eval mode
  (PyTorch's FakeQuantize behaviour, profile ``"torch"``); with ``lsq=True`` the activation scale and zero point
  are learnable parameters (initialized from the observer on the first batch) with PyTorch's LSQ gradients
  (:func:`lsq_fake_quantize`).
* :func:`convert` replaces each QAT layer by a real quantized layer whose output equals the QAT layer's eval-mode
  output: ``nn.QuantizedLinear`` (scheme ``"group"``; the dequantized weights are bit-identical, the matmul is MLX's
  ``quantized_matmul``, equal within float32 summation-order rounding) or :class:`ChannelQuantizedLinear` /
  :class:`ChannelQuantizedConv2d` (mlxquant's format: int8 codes + per-channel float32 scales; bit-identical
  output). Input activations keep their frozen fake-quantization (:class:`ActQuant`).

This module imports MLX (``mq.nn`` is loaded on first access only).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import mlx.core as mx
import mlx.nn as nn

from ._checks import check_choice
from ._errors import InvalidArgumentError
from .quant.observers import MovingAverageMinMaxObserver

__all__ = [
    "ActQuant",
    "ChannelQuantizedConv2d",
    "ChannelQuantizedLinear",
    "QATConv2d",
    "QATLinear",
    "convert",
    "lsq_fake_quantize",
    "prepare_qat",
]


# ---------------------------------------------------------------------------------------------------------------
# LSQ: learnable per-tensor scale and zero point with PyTorch's gradients
# ---------------------------------------------------------------------------------------------------------------
def _fma_f32(a: mx.array, b: mx.array, c: mx.array) -> mx.array:
    """``fma(a, b, c)`` in float32 (one rounding), emulated without a fused instruction or float64 (Metal has none).

    Dekker's TwoProduct with Veltkamp's split gives ``a·b = p + e`` exactly (``p = fl(a·b)``), Knuth's TwoSum
    ``p + c = s + t`` exactly, and the result is ``fl(s + fl(t + e))``. That equals the fused result except when
    ``t + e`` rounds onto a midpoint of ``s`` (within ~2^-48 relative); a product that overflows the split falls back
    to ``fl(fl(a·b) + c)``. ATen's CPU kernels are compiled with FMA contraction, so
    ``nearbyint(zero_point + x * inv_scale)`` there is ``nearbyint(fma(x, inv_scale, zero_point))``.
    """
    split = mx.array(4097.0, dtype=mx.float32)  # 2^12 + 1: splits a 24-bit significand into two 12-bit halves

    def halves(v: mx.array) -> tuple[mx.array, mx.array]:
        t = split * v
        hi = t - (t - v)
        return hi, v - hi

    p = a * b
    ah, al = halves(a)
    bh, bl = halves(b)
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    s = p + c
    bb = s - p
    t = (p - (s - bb)) + (c - bb)
    out = s + (t + e)
    return mx.where(mx.isfinite(e), out, s)


def lsq_fake_quantize(x: mx.array, scale: mx.array, zero_point: mx.array, qmin: int, qmax: int,
                      grad_factor: float = 1.0) -> mx.array:
    """``torch._fake_quantize_learnable_per_tensor_affine``: fake-quantize with a learnable scale and zero point.

    Forward: ``zp = clamp(rne(zero_point), qmin, qmax)``; ``y = (clamp(zp + rne(x·(1/s)), qmin, qmax) - zp)·s``.
    Backward (ATen ``_fake_quantize_learnable_tensor_grad_kernel_cpu``), with ``zp' = trunc(clamp(zero_point + 0.5,
    qmin, qmax))`` and ``q = rne(fma(x, 1/s, zp'))`` (the zero point is added before rounding, in one fused
    multiply-add: at ties of ``x/s`` this differs from the forward's ``zp + rne(x·(1/s))``): in range, ``dx = dy``,
    ``ds = dy·fma(clamp(q) - zp', s, -x)·(1/s)`` (also fused: one rounding), ``dzp = 0``;
    below/above the range, ``dx = 0``, ``ds = dy·(qmin - zp')`` / ``dy·(qmax - zp')``, ``dzp = -dy·s``; ``ds`` and
    ``dzp`` are summed over all elements and multiplied by ``grad_factor``.

    Args:
        x: input (float32).
        scale: 1-element (or 0-d) float32 array, > 0.
        zero_point: 1-element (or 0-d) float32 array.
        qmin: lower bound of the integer range.
        qmax: upper bound.
        grad_factor: multiplies the scale and zero-point gradients (LSQ uses 1/sqrt(numel·qmax)).

    Returns:
        The fake-quantized ``x``.
    """
    lo, hi = float(qmin), float(qmax)
    gf = mx.array(grad_factor, dtype=mx.float32)

    @mx.custom_function
    def f(xin: mx.array, s: mx.array, zp: mx.array) -> mx.array:
        zr = mx.clip(mx.round(zp), lo, hi)  # forward: nearbyint, then clamp (ATen _get_zero_point_from_tensor)
        inv = mx.array(1.0, dtype=mx.float32) / s
        q = mx.clip(zr + mx.round(xin * inv), lo, hi)
        return (q - zr) * s

    @f.vjp
    def f_vjp(primals: Any, cot: mx.array, out: Any) -> tuple[mx.array, mx.array, mx.array]:
        xin, s, zp = primals
        # backward: zp + 0.5, clamp, truncate to int (ATen, is_forward=false)
        zb = mx.clip(zp + 0.5, lo, hi)
        zb = mx.where(zb < 0, mx.ceil(zb), mx.floor(zb))
        inv = mx.array(1.0, dtype=mx.float32) / s
        q = mx.round(_fma_f32(xin, inv, zb))  # ATen: nearbyint(zero_point + x * inv_scale), contracted to an FMA
        inside = mx.logical_and(q >= lo, q <= hi)
        zero = mx.zeros_like(cot)
        dx = mx.where(inside, cot, zero)
        # ATen: xfq = (clamp(q) - zp)·s, then (xfq - x): contracted too, fma((clamp(q) - zp), s, -x), one rounding
        err = _fma_f32(mx.clip(q, lo, hi) - zb, s, -xin)
        ds = mx.where(inside, cot * err * inv, mx.where(q < lo, cot * (lo - zb), cot * (hi - zb))) * gf
        dzp = mx.where(inside, zero, -cot * s) * gf
        return dx, mx.sum(ds).reshape(s.shape), mx.sum(dzp).reshape(zp.shape)

    return f(x, scale, zero_point)


# ---------------------------------------------------------------------------------------------------------------
# weight fake-quantization
# ---------------------------------------------------------------------------------------------------------------
def _channel_qparams(w: mx.array, bits: int) -> Any:
    from .quant.primitives import choose_qparams

    return choose_qparams(mx.stop_gradient(w), f"int{bits}", symmetric=True, narrow_range=True, axis=0)


def _fq_weight_channel(w: mx.array, bits: int) -> mx.array:
    from .quant.primitives import fake_quantize

    return fake_quantize(w, _channel_qparams(w, bits))


def _fq_weight_group(w: mx.array, bits: int, group_size: int) -> mx.array:
    from .quant.formats.mlx import mlx_dequantize, mlx_quantize

    @mx.custom_function
    def f(win: mx.array) -> mx.array:
        wq, s, b = mlx_quantize(win, group_size, bits)
        return mlx_dequantize(wq, s, b, group_size, bits, dtype="float32")

    @f.vjp
    def f_vjp(primals: Any, cot: mx.array, out: Any) -> mx.array:
        return cot  # identity STE: the affine min/max range covers every value of its group

    return f(w)


_CHANNEL_BITS = (2, 4, 8)
_GROUP_BITS = (2, 3, 4, 5, 6, 8)


class _QATBase(nn.Module):
    """Shared configuration and activation fake-quantization."""

    def _setup(self, weight_bits: int, weight_scheme: str, group_size: int, act_bits: int | None,
               act_averaging: float, lsq: bool) -> None:
        check_choice("weight_scheme", weight_scheme, ("channel", "group"))
        valid = _CHANNEL_BITS if weight_scheme == "channel" else _GROUP_BITS
        check_choice("weight_bits", weight_bits, valid)
        if act_bits is not None:
            check_choice("act_bits", act_bits, (2, 4, 8))
        self.weight_bits = weight_bits
        self.weight_scheme = weight_scheme
        self.group_size = group_size
        self.act_bits = act_bits
        self.lsq = lsq
        self.observer = MovingAverageMinMaxObserver(act_averaging) if act_bits is not None else None
        if lsq and act_bits is not None:
            self.act_scale = mx.array([1.0])
            self.act_zero_point = mx.array([0.0])
        self._lsq_ready = False

    @property
    def act_dtype(self) -> str:
        return f"uint{self.act_bits}"

    def _act_range(self) -> tuple[int, int]:
        return 0, (1 << int(self.act_bits)) - 1  # type: ignore[arg-type]

    def act_qparams(self) -> Any:
        """The activation QParams (frozen observer statistics, or the learned LSQ values)."""
        from .quant.primitives import QParams

        if self.act_bits is None:
            return None
        if self.lsq and self._lsq_ready:
            lo, hi = self._act_range()
            zp = mx.clip(mx.round(self.act_zero_point), lo, hi).astype(mx.int32)
            return QParams(scale=self.act_scale.reshape(()), zero_point=zp.reshape(()), dtype=self.act_dtype)
        return self.observer.compute_qparams(self.act_dtype, profile="torch")  # type: ignore[union-attr]

    def _fq_input(self, x: mx.array) -> mx.array:
        if self.act_bits is None:
            return x
        from .quant.primitives import fake_quantize

        if self.training:
            self.observer.update(mx.stop_gradient(x))  # type: ignore[union-attr]
        if self.lsq:
            if not self._lsq_ready:
                qp = self.observer.compute_qparams(self.act_dtype, profile="torch")  # type: ignore[union-attr]
                self.act_scale = mx.array(qp.scale).reshape(1).astype(mx.float32)
                self.act_zero_point = mx.array(qp.zero_point).reshape(1).astype(mx.float32)
                self._lsq_ready = True
            lo, hi = self._act_range()
            # LSQ's recommended gradient scale 1/sqrt(numel·qmax) (Esser et al. 2020)
            gf = 1.0 / ((x.size * hi) ** 0.5)
            return lsq_fake_quantize(x, self.act_scale, self.act_zero_point, lo, hi, gf)
        return fake_quantize(x, self.act_qparams(), profile="torch")

    def quantized_weight(self) -> mx.array:
        """The fake-quantized weight (what the forward pass uses)."""
        if self.weight_scheme == "group":
            return _fq_weight_group(self.weight, self.weight_bits, self.group_size)
        return _fq_weight_channel(self.weight, self.weight_bits)


class QATLinear(_QATBase):
    """``nn.Linear`` with fake-quantized weights and input activations.

    Args:
        input_dims: input features.
        output_dims: output features.
        bias: with a bias (kept in float).
        weight_bits: weight bits (channel: 2, 4, 8; group: 2, 3, 4, 5, 6, 8).
        weight_scheme: ``"channel"`` (symmetric per output channel) or ``"group"`` (MLX group-wise affine).
        group_size: group size for ``"group"`` (32, 64 or 128; must divide ``input_dims``).
        act_bits: input activation bits (unsigned per-tensor affine), or ``None``.
        act_averaging: moving-average constant of the activation observer.
        lsq: learnable activation scale / zero point (PyTorch's LSQ gradients).
    """

    def __init__(self, input_dims: int, output_dims: int, bias: bool = True, *, weight_bits: int = 8,
                 weight_scheme: str = "channel", group_size: int = 64, act_bits: int | None = 8,
                 act_averaging: float = 0.01, lsq: bool = False) -> None:
        super().__init__()
        lin = nn.Linear(input_dims, output_dims, bias=bias)
        self.weight = lin.weight
        if bias:
            self.bias = lin.bias
        if weight_scheme == "group" and input_dims % group_size:
            raise InvalidArgumentError(
                f"group_size {group_size} must divide input_dims {input_dims} for weight_scheme='group'"
            )
        self._setup(weight_bits, weight_scheme, group_size, act_bits, act_averaging, lsq)

    @classmethod
    def from_linear(cls, layer: nn.Linear, **kw: Any) -> QATLinear:
        """A QAT layer initialized with ``layer``'s weights."""
        out_dims, in_dims = layer.weight.shape
        q = cls(in_dims, out_dims, "bias" in layer, **kw)
        q.weight = layer.weight
        if "bias" in layer:
            q.bias = layer.bias
        return q

    def __call__(self, x: mx.array) -> mx.array:
        x = self._fq_input(x)
        y = x @ self.quantized_weight().T
        return y + self.bias if "bias" in self else y


class QATConv2d(_QATBase):
    """``nn.Conv2d`` with fake-quantized weights (per output channel) and input activations.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias: as ``nn.Conv2d``.
        weight_bits: 2, 4 or 8 (symmetric per output channel; MLX has no quantized convolution).
        act_bits, act_averaging, lsq: as :class:`QATLinear`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True, *, weight_bits: int = 8,
                 act_bits: int | None = 8, act_averaging: float = 0.01, lsq: bool = False) -> None:
        super().__init__()
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)
        self.weight = conv.weight
        if bias:
            self.bias = conv.bias
        self.stride, self.padding, self.dilation, self.groups = conv.stride, conv.padding, conv.dilation, groups
        self._setup(weight_bits, "channel", 64, act_bits, act_averaging, lsq)

    @classmethod
    def from_conv(cls, layer: nn.Conv2d, **kw: Any) -> QATConv2d:
        out_c, kh, kw_, in_c = layer.weight.shape
        groups = getattr(layer, "groups", 1)
        q = cls(in_c * groups, out_c, (kh, kw_), layer.stride, layer.padding, layer.dilation, groups,
                "bias" in layer, **kw)
        q.weight = layer.weight
        if "bias" in layer:
            q.bias = layer.bias
        return q

    def __call__(self, x: mx.array) -> mx.array:
        x = self._fq_input(x)
        y = mx.conv2d(x, self.quantized_weight(), self.stride, self.padding, self.dilation, self.groups)
        return y + self.bias if "bias" in self else y


# ---------------------------------------------------------------------------------------------------------------
# converted (real) quantized layers
# ---------------------------------------------------------------------------------------------------------------
class ActQuant(nn.Module):
    """Frozen per-tensor fake-quantization of a module's input, then the module."""

    def __init__(self, module: nn.Module, scale: float, zero_point: int, dtype: str) -> None:
        super().__init__()
        self.module = module
        self.act_scale = float(scale)
        self.act_zero_point = int(zero_point)
        self.act_dtype = dtype

    def __call__(self, x: mx.array) -> mx.array:
        from .quant.primitives import fake_quantize

        return self.module(fake_quantize(x, self.act_scale, self.act_zero_point, self.act_dtype, profile="torch"))


class ChannelQuantizedLinear(nn.Module):
    """mlxquant's per-channel int8-storage linear layer: ``y = x @ dequantize(codes, scale).T + bias``."""

    def __init__(self, codes: mx.array, scale: mx.array, bias: mx.array | None, bits: int) -> None:
        super().__init__()
        self.codes = codes  # int8 storage, (out, in)
        self.scales = scale  # float32, (out,)
        if bias is not None:
            self.bias = bias
        self.bits = bits
        self.freeze()

    def dequantized_weight(self) -> mx.array:
        from .quant.primitives import dequantize

        return dequantize(self.codes, self.scales, mx.zeros(self.scales.shape, dtype=mx.int32), axis=0)

    def __call__(self, x: mx.array) -> mx.array:
        y = x @ self.dequantized_weight().T
        return y + self.bias if "bias" in self else y


class ChannelQuantizedConv2d(ChannelQuantizedLinear):
    """mlxquant's per-channel int8-storage Conv2d: ``conv2d(x, dequantize(codes, scale)) + bias``."""

    def __init__(self, codes: mx.array, scale: mx.array, bias: mx.array | None, bits: int, stride: Any,
                 padding: Any, dilation: Any, groups: int) -> None:
        super().__init__(codes, scale, bias, bits)
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def __call__(self, x: mx.array) -> mx.array:
        y = mx.conv2d(x, self.dequantized_weight(), self.stride, self.padding, self.dilation, self.groups)
        return y + self.bias if "bias" in self else y


def _convert_layer(layer: _QATBase) -> nn.Module:
    from .quant.primitives import quantize

    bias = layer.bias if "bias" in layer else None
    if layer.weight_scheme == "group":
        out_dims, in_dims = layer.weight.shape
        q = nn.QuantizedLinear(in_dims, out_dims, bias is not None, layer.group_size, layer.weight_bits)
        from .quant.formats.mlx import mlx_quantize

        q.weight, q.scales, q.biases = mlx_quantize(layer.weight, layer.group_size, layer.weight_bits)
        if bias is not None:
            q.bias = bias
        real: nn.Module = q
    else:
        qp = _channel_qparams(layer.weight, layer.weight_bits)
        codes = quantize(layer.weight, qp)
        if isinstance(layer, QATConv2d):
            real = ChannelQuantizedConv2d(codes, qp.scale, bias, layer.weight_bits, layer.stride, layer.padding,
                                          layer.dilation, layer.groups)
        else:
            real = ChannelQuantizedLinear(codes, qp.scale, bias, layer.weight_bits)
    if layer.act_bits is None:
        return real
    qp = layer.act_qparams()
    return ActQuant(real, float(mx.array(qp.scale).item()), int(mx.array(qp.zero_point).item()), layer.act_dtype)


def _walk(module: nn.Module, fn: Callable[[nn.Module, str], nn.Module | None], prefix: str = "") -> None:
    """Replace children in place: ``fn(child, path)`` returns a replacement or None (then recurse into the child).

    Children may sit in nested lists, tuples and dicts (as MLX's own module tree allows); ``path`` is the dotted
    path of the child (``layers.0``, ``heads.a``)."""

    def visit(value: Any, path: str) -> Any:
        if isinstance(value, nn.Module):
            new = fn(value, path)
            if new is not None:
                return new
            _walk(value, fn, path + ".")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                value[i] = visit(item, f"{path}.{i}")
        elif isinstance(value, tuple):
            return tuple(visit(item, f"{path}.{i}") for i, item in enumerate(value))
        elif isinstance(value, dict):
            for k in list(value.keys()):
                value[k] = visit(value[k], f"{path}.{k}")
        return value

    for key in list(module.keys()):
        value = module[key]
        new = visit(value, prefix + str(key))
        if new is not value:
            module[key] = new


def prepare_qat(model: nn.Module, *, weight_bits: int = 8, weight_scheme: str = "channel", group_size: int = 64,
                act_bits: int | None = 8, act_averaging: float = 0.01, lsq: bool = False,
                skip: Callable[[nn.Module], bool] | None = None) -> nn.Module:
    """Swap every ``nn.Linear`` / ``nn.Conv2d`` in an MLX module tree for its QAT version (in place).

    Layers are found in attributes, nested lists, tuples and dicts. Linear layers whose input width is not divisible
    by ``group_size`` keep ``weight_scheme="channel"`` when ``"group"`` is asked for (MLX's QuantizedLinear cannot
    hold them), and Conv2d is always per channel; where that changes the scheme or the bits (per-channel weights
    take 2, 4 or 8 bits; other widths use 8), a ``UserWarning`` names the layer.

    Args:
        model: the MLX module tree (modified in place and returned).
        weight_bits, weight_scheme, group_size, act_bits, act_averaging, lsq: as :class:`QATLinear`.
        skip: predicate; layers for which it returns True are left in float.

    Returns:
        ``model``; when ``model`` itself is an ``nn.Linear`` / ``nn.Conv2d``, its QAT replacement.
    """

    notes: list[str] = []

    def fallback(path: str, why: str, scheme: str, bits: int) -> None:
        if (scheme, bits) != (weight_scheme, weight_bits):
            notes.append(
                f"prepare_qat: {path or 'the model'} ({why}) uses weight_scheme={scheme!r} with {bits} bits instead "
                f"of {weight_scheme!r} with {weight_bits} bits (per-channel weights support {_CHANNEL_BITS} bits)"
            )

    def swap(m: nn.Module, path: str) -> nn.Module | None:
        if skip is not None and skip(m):
            return m
        kw = dict(weight_bits=weight_bits, act_bits=act_bits, act_averaging=act_averaging, lsq=lsq)
        if type(m) is nn.Linear:
            scheme = weight_scheme
            if scheme == "group" and m.weight.shape[1] % group_size:
                scheme = "channel"
            bits = weight_bits if scheme == weight_scheme or weight_bits in _CHANNEL_BITS else 8
            fallback(path, f"Linear of width {m.weight.shape[1]}, not divisible by group_size {group_size}", scheme,
                     bits)
            kw["weight_bits"] = bits
            return QATLinear.from_linear(m, weight_scheme=scheme, group_size=group_size, **kw)
        if type(m) is nn.Conv2d:
            if weight_bits not in _CHANNEL_BITS:
                kw["weight_bits"] = 8
            fallback(path, "Conv2d: MLX has no group-quantized convolution", "channel", kw["weight_bits"])
            return QATConv2d.from_conv(m, **kw)
        return None

    root = swap(model, "")
    if root is None:
        _walk(model, swap)
    for note in notes:  # no silent fallback: every layer that could not take the requested scheme is named
        warnings.warn(note, UserWarning, stacklevel=2)
    return model if root is None else root  # root: the model itself is a Linear / Conv2d (or skipped)


def convert(model: nn.Module) -> nn.Module:
    """Replace every QAT layer by a real quantized layer (in place) whose output equals its eval-mode output.

    Returns:
        ``model``, in eval mode; when ``model`` itself is a QAT layer, its converted replacement.
    """
    model.eval()
    if isinstance(model, _QATBase):  # a bare QAT layer as the model
        return _convert_layer(model)
    _walk(model, lambda m, _path: _convert_layer(m) if isinstance(m, _QATBase) else None)
    return model

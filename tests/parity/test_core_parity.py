"""Hypothesis properties of the quantization core.

* NumPy and MLX give identical integers (and identical float bits) for every public function, every profile, dtype
  and granularity: quantize, dequantize, fake_quantize (+ its mask and mx.grad), choose_qparams, qparams_from_minmax.
* The NumPy fast path equals the generic kernel (chunk size shrunk so that small examples cross chunk boundaries).
* Invariants: |x - dequantize(quantize(x))| <= scale/2 inside the range (up to float32 rounding), fake_quantize is
  idempotent, quantize is monotone.

Both backends are required (tests/conftest.py turns a missing MLX into an error, not a skip).
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mlxquant as mq
from mlxquant._backend import get_backend
from mlxquant.quant import _core_fast, primitives
from mlxquant.quant.primitives import fake_quantize_mask, qparams_from_minmax
from tests.helpers import assert_equal

PROFILES = list(mq.PROFILES)
DTYPES = list(mq.QTYPES)


@pytest.fixture(autouse=True)
def _require_mlx(request: pytest.FixtureRequest) -> None:
    if "mlx" not in request.config._mlxquant_backends:  # type: ignore[attr-defined]
        pytest.fail("the parity suite compares NumPy with MLX: run it with MLX available (--backends numpy,mlx)")


def _mx():
    import mlx.core as mx

    return mx


finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
any32 = st.floats(width=32, allow_nan=True, allow_infinity=True)
scales32 = st.floats(min_value=2.0**-40, max_value=2.0**40, width=32, allow_subnormal=False)


@st.composite
def values(draw, shape, scale: float, elements=None):
    """float32 arrays mixing arbitrary floats with values at and next to k·s and (k + 1/2)·s."""
    n = int(np.prod(shape))
    raw = draw(hnp.arrays(np.float32, n, elements=elements if elements is not None else any32))
    ks = draw(hnp.arrays(np.int32, n, elements=st.integers(-40000, 40000)))
    pick = draw(hnp.arrays(np.int8, n, elements=st.integers(0, 4)))
    base = ((ks.astype(np.float64) + 0.5 * (pick % 2)) * np.float64(scale)).astype(np.float32)
    with np.errstate(all="ignore"):
        near = np.where(pick == 3, np.nextafter(base, np.float32(np.inf)), base)
        near = np.where(pick == 4, np.nextafter(base, np.float32(-np.inf)), near)
    return np.where(pick == 0, raw, near).astype(np.float32).reshape(shape)


@st.composite
def quant_case(draw, allow_nonfinite: bool = True):
    """(x, scale, zero_point, dtype, axis, block_size, profile)."""
    dtype = draw(st.sampled_from(DTYPES))
    profile = draw(st.sampled_from(PROFILES))
    qt = mq.QTYPES[dtype]
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=0, max_size=3)))
    gran = draw(st.sampled_from(["tensor", "axis", "block"])) if shape else "tensor"
    axis = block = None
    if gran != "tensor":
        axis = draw(st.integers(-len(shape), len(shape) - 1))
    if gran == "block":
        block = draw(st.integers(1, max(1, shape[axis] + 1)))
    layout = primitives.make_layout(shape, axis, block)
    pshape = layout.param_shape
    base_scale = draw(scales32)
    scale = np.asarray(
        draw(hnp.arrays(np.float32, pshape, elements=st.floats(0.5, 2.0, width=32))) * np.float32(base_scale),
        np.float32,
    )
    zlo, zhi = (qt.qmin, qt.qmax) if qt.bits < 32 else (-(2**20), 2**20)
    zp = draw(
        st.one_of(st.integers(zlo, zhi), hnp.arrays(np.int32, pshape, elements=st.integers(zlo, zhi)))
        if pshape
        else st.integers(zlo, zhi)
    )
    x = draw(values(shape, float(base_scale), elements=None if allow_nonfinite else finite32))
    return x, scale, zp, dtype, axis, block, profile


def _both(fn, *args, **kw):
    """fn on NumPy inputs and on the same inputs as MLX arrays: (numpy result, mlx result)."""
    mx = _mx()
    a = fn(*args, **kw)
    margs = [mx.array(v) if isinstance(v, np.ndarray) else v for v in args]
    b = fn(*margs, **kw)
    return a, b


def _same(a, b, msg=""):
    """Identical values (bit-exact floats, NaN == NaN) and dtypes; a is NumPy, b is MLX."""
    assert type(b).__module__.startswith("mlx"), f"{msg}: MLX result expected, got {type(b)}"
    bn = mq.to_numpy(b)
    an = np.asarray(a)
    assert an.dtype == bn.dtype and an.shape == bn.shape, (msg, an.dtype, bn.dtype, an.shape, bn.shape)
    if an.dtype.kind == "f":
        assert np.array_equal(
            an.view(np.uint32 if an.itemsize == 4 else np.uint16),
            bn.view(an.view(np.uint32 if an.itemsize == 4 else np.uint16).dtype),
        ) or np.array_equal(an, bn, equal_nan=True), msg
    else:
        assert np.array_equal(an, bn), msg


def _okscale(scale, profile, dtype, shape) -> None:
    prof = mq.PROFILES[profile]
    qt = mq.QTYPES[dtype]
    kind = "tensor" if np.ndim(scale) == 0 else "axis"
    if primitives._formula(prof, qt, kind) != "div" or prof.fake_formula != "quantize":
        assume(np.all((scale >= 2.0**-127) & (scale <= 2.0**126)))


@given(quant_case())
def test_quantize_numpy_equals_mlx(case) -> None:
    x, scale, zp, dtype, axis, block, profile = case
    _okscale(scale, profile, dtype, x.shape)
    a, b = _both(mq.quantize, x, scale, zp, dtype, axis=axis, block_size=block, profile=profile)
    _same(a, b, f"quantize {dtype} {profile} axis={axis} block={block}")


@given(quant_case(), st.sampled_from(["half_even", "half_away", "half_up"]))
def test_quantize_rounding_override_numpy_equals_mlx(case, rounding) -> None:
    x, scale, zp, dtype, axis, block, profile = case
    _okscale(scale, profile, dtype, x.shape)
    a, b = _both(mq.quantize, x, scale, zp, dtype, axis=axis, block_size=block, profile=profile, rounding=rounding)
    _same(a, b, "quantize rounding")


@given(quant_case())
def test_dequantize_numpy_equals_mlx(case) -> None:
    x, scale, zp, dtype, axis, block, profile = case
    _okscale(scale, profile, dtype, x.shape)
    q = mq.quantize(x, scale, zp, dtype, axis=axis, block_size=block, profile=profile)
    a, b = _both(mq.dequantize, q, scale, zp, axis=axis, block_size=block)
    _same(a, b, "dequantize")


@given(quant_case())
def test_fake_quantize_and_mask_numpy_equal_mlx(case) -> None:
    x, scale, zp, dtype, axis, block, profile = case
    _okscale(scale, profile, dtype, x.shape)
    a, b = _both(mq.fake_quantize, x, scale, zp, dtype, axis=axis, block_size=block, profile=profile)
    _same(a, b, "fake_quantize")
    a, b = _both(fake_quantize_mask, x, scale, zp, dtype, axis=axis, block_size=block, profile=profile)
    _same(a, b, "mask")


@given(quant_case(allow_nonfinite=False))
def test_mlx_gradient_is_the_mask(case) -> None:
    x, scale, zp, dtype, axis, block, profile = case
    _okscale(scale, profile, dtype, x.shape)
    assume(x.size > 0)
    mx = _mx()
    g = np.linspace(-1, 1, x.size, dtype=np.float32).reshape(x.shape) + np.float32(2)
    gm = mx.array(g)

    def loss(v):
        return (mq.fake_quantize(v, scale, zp, dtype, axis=axis, block_size=block, profile=profile) * gm).sum()

    grad = mx.grad(loss)(mx.array(x))
    mask = fake_quantize_mask(x, scale, zp, dtype, axis=axis, block_size=block, profile=profile)
    assert_equal(grad, np.where(mask, g, np.float32(0)))


@st.composite
def qparams_case(draw):
    dtype = draw(st.sampled_from([d for d in DTYPES if d != "int32"]))
    profile = draw(st.sampled_from(PROFILES))
    symmetric = draw(st.booleans())
    reduce_range = draw(st.booleans()) if profile in ("onnx", "torch") else False
    narrow = draw(st.booleans())
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    gran = draw(st.sampled_from(["tensor", "axis", "block"]))
    axis = block = None
    if gran != "tensor":
        axis = draw(st.integers(0, len(shape) - 1))
    if gran == "block":
        block = draw(st.integers(1, shape[axis] + 1))
    mag = draw(st.floats(2.0**-60, 2.0**60, width=32))
    x = draw(
        values(shape, float(mag) / 100, elements=st.floats(-float(np.float32(1e30)), float(np.float32(1e30)), width=32))
    )
    if draw(st.booleans()):
        x = (x * np.float32(0)).astype(np.float32)  # all-zero
    return x, dtype, profile, symmetric, reduce_range, narrow, axis, block


@given(qparams_case())
def test_choose_qparams_numpy_equals_mlx(case) -> None:
    x, dtype, profile, symmetric, reduce_range, narrow, axis, block = case
    kw = dict(
        symmetric=symmetric,
        reduce_range=reduce_range,
        narrow_range=narrow,
        profile=profile,
        axis=axis,
        block_size=block,
    )
    try:
        primitives.qrange(dtype, symmetric=symmetric, reduce_range=reduce_range, narrow_range=narrow, profile=profile)
    except mq.InvalidArgumentError:
        assume(False)  # e.g. int2 with reduce_range and narrow_range: no range left
    pa = mq.choose_qparams(x, dtype, **kw)
    pb = mq.choose_qparams(_mx().array(x), dtype, **kw)
    _same(pa.scale, pb.scale, "scale")
    _same(pa.zero_point, pb.zero_point, "zero_point")
    s = mq.to_numpy(pa.scale)
    assert np.all(np.isfinite(s) & (s > 0)), "usable scale"
    # and the qparams of min/max reduced by hand are the same
    lay = primitives.make_layout(x.shape, axis, block)
    mn, mx_ = lay.minmax(get_backend(backend="numpy"), x)
    pc = qparams_from_minmax(
        mn, mx_, dtype, symmetric=symmetric, reduce_range=reduce_range, narrow_range=narrow, profile=profile
    )
    assert_equal(pc.scale, pa.scale)
    assert_equal(pc.zero_point, pa.zero_point)


# ---------------------------------------------------------------------------------------------------------------
# fast path == generic path
@contextlib.contextmanager
def small_chunks():
    """Let the fast path take tiny arrays, in 7-element chunks over 3 threads (so examples cross chunk edges)."""
    saved = _core_fast.MIN_SIZE, _core_fast.CHUNK
    _core_fast.MIN_SIZE, _core_fast.CHUNK = 0, 7
    prev = _core_fast.set_threads(3)
    try:
        yield
    finally:
        _core_fast.MIN_SIZE, _core_fast.CHUNK = saved
        _core_fast.set_threads(prev)


@given(case=quant_case(), rounding=st.sampled_from([None, "half_even", "half_away", "half_up"]))
def test_fast_path_equals_generic(case, rounding) -> None:
    with small_chunks():
        _fast_path_equals_generic(case, rounding)


def _fast_path_equals_generic(case, rounding) -> None:
    x, scale, zp, dtype, axis, block, profile = case
    _okscale(scale, profile, dtype, x.shape)
    b = get_backend(backend="numpy")
    prof = mq.PROFILES[profile]
    qt = mq.QTYPES[dtype]
    lay = primitives.make_layout(x.shape, axis, block)
    formula = primitives._formula(prof, qt, lay.kind)
    mode = (
        primitives.rounding_mode(rounding)
        if rounding
        else (prof.rounding if lay.kind == "tensor" else prof.rounding_per_axis)
    )
    p = primitives._params(b, x.shape, scale, zp, qt, axis, block, formula != "div")
    with np.errstate(all="ignore"):
        want = primitives._quantize_generic(b, x, p, formula, mode)
        fast = _core_fast.quantize(x, p, formula, mode)
    if fast is not None:
        assert_equal(fast, want)
    got = mq.quantize(x, scale, zp, dtype, axis=axis, block_size=block, profile=profile, rounding=rounding)
    assert_equal(got, want)
    q = want
    with np.errstate(all="ignore"):
        dwant = primitives._dequantize_generic(b, q, p)
    assert_equal(mq.dequantize(q, scale, zp, axis=axis, block_size=block).view(np.uint32), dwant.view(np.uint32))


# ---------------------------------------------------------------------------------------------------------------
# invariants
@given(quant_case(allow_nonfinite=False))
def test_round_trip_error_is_half_a_step_inside_the_range(case) -> None:
    x, scale, zp, dtype, axis, block, profile = case
    _okscale(scale, profile, dtype, x.shape)
    qt = mq.QTYPES[dtype]
    assume(qt.bits <= 16)
    lay = primitives.make_layout(x.shape, axis, block)
    b = get_backend(backend="numpy")
    s = np.broadcast_to(
        lay.unview(
            b,
            lay.expand(b, np.asarray(scale, np.float32), np.ndim(scale) == 0)
            * np.ones(lay.view(b, x).shape, np.float32),
        ),
        x.shape,
    ).astype(np.float64)
    z = np.broadcast_to(
        lay.unview(
            b, lay.expand(b, np.asarray(zp, np.float32), np.ndim(zp) == 0) * np.ones(lay.view(b, x).shape, np.float32)
        ),
        x.shape,
    ).astype(np.float64)
    q = mq.quantize(x, scale, zp, dtype, axis=axis, block_size=block, profile=profile)
    y = mq.dequantize(q, scale, zp, axis=axis, block_size=block).astype(np.float64)
    xd = x.astype(np.float64)
    inside = (xd >= (qt.qmin - z) * s) & (xd <= (qt.qmax - z) * s)
    # half a step, plus float32 rounding of x/s (relative 2^-24 of |x/s| steps) and of the product
    tol = s * (0.5 + np.abs(xd / s) * 2.0**-22 + 2.0**-20) + np.abs(y) * 2.0**-23
    err = np.abs(xd - y)
    assert np.all(err[inside] <= tol[inside])


@given(quant_case(allow_nonfinite=False))
def test_fake_quantize_is_idempotent(case) -> None:
    x, scale, zp, dtype, axis, block, profile = case
    _okscale(scale, profile, dtype, x.shape)
    assume(mq.QTYPES[dtype].bits <= 16)
    y = mq.fake_quantize(x, scale, zp, dtype, axis=axis, block_size=block, profile=profile)
    assume(np.all(np.isfinite(y)))
    y2 = mq.fake_quantize(y, scale, zp, dtype, axis=axis, block_size=block, profile=profile)
    assert_equal(y2, y)


@given(
    st.sampled_from(DTYPES),
    st.sampled_from(PROFILES),
    scales32,
    st.integers(-8, 7),
    hnp.arrays(np.float32, st.integers(1, 300), elements=finite32),
)
def test_quantize_is_monotone(dtype, profile, scale, zp, x) -> None:
    qt = mq.QTYPES[dtype]
    zp = min(max(zp, qt.qmin), qt.qmax)
    _okscale(np.float32(scale), profile, dtype, x.shape)
    xs = np.sort(x)
    q = mq.quantize(xs, np.float32(scale), zp, dtype, profile=profile).astype(np.int64)
    assert np.all(np.diff(q) >= 0)


@pytest.mark.parametrize("profile", PROFILES)
def test_mx_compile_gives_the_eager_results(profile: str) -> None:
    """quantize / fake_quantize / its STE gradient inside mx.compile equal the eager NumPy results (Linux CPU; the
    torch FMA emulation must survive kernel fusion). Near-ties of 2 scales, both zero-point extremes."""
    from tests.quant.adversarial import adversarial_values

    mx = _mx()
    rng = np.random.default_rng(61)
    for s in (0.1, 0.0123):
        for zp in (-128, 127):
            x = adversarial_values(rng, s, zp, -128, 127, n_random=300, max_k=120)
            x = x[np.isfinite(x)]
            s32 = np.float32(s)
            q = mx.compile(lambda v, s32=s32, zp=zp: mq.quantize(v, s32, zp, "int8", profile=profile))(mx.array(x))
            assert_equal(q, mq.quantize(x, s32, zp, "int8", profile=profile), msg=f"quantize s={s} zp={zp}")
            fq = mx.compile(lambda v, s32=s32, zp=zp: mq.fake_quantize(v, s32, zp, "int8", profile=profile))
            assert_equal(fq(mx.array(x)), mq.fake_quantize(x, s32, zp, "int8", profile=profile), msg="fake_quantize")
            g = mx.compile(mx.grad(lambda v, s32=s32, zp=zp: mq.fake_quantize(v, s32, zp, profile=profile).sum()))
            mask = fake_quantize_mask(x, s32, zp, profile=profile)
            assert_equal(np.array(g(mx.array(x))) != 0, mask, msg="gradient")

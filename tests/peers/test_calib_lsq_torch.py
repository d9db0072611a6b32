"""LSQ learnable fake-quantization vs torch._fake_quantize_learnable_per_tensor_affine (forward and autograd)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
mx = pytest.importorskip("mlx.core")

from mlxquant.nn import lsq_fake_quantize  # noqa: E402


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("qmin,qmax,zp", [(0, 255, 128.0), (-128, 127, 0.0), (0, 15, 3.0), (0, 255, 37.3),
                                          (-8, 7, -2.6)])
@pytest.mark.parametrize("grad_factor", [1.0, 0.25])
def test_lsq_forward_and_gradients_match_torch(seed, qmin, qmax, zp, grad_factor):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(257) * 3).astype(np.float32)
    x[:4] = [100.0, -100.0, 0.0, 0.05]  # saturating above and below, zero, near zero
    dy = rng.standard_normal(257).astype(np.float32)
    s = float(np.float32(rng.uniform(0.02, 0.2)))

    tx = torch.tensor(x, requires_grad=True)
    ts = torch.tensor([s], requires_grad=True)
    tz = torch.tensor([zp], dtype=torch.float32, requires_grad=True)
    ty = torch._fake_quantize_learnable_per_tensor_affine(tx, ts, tz, qmin, qmax, grad_factor)
    ty.backward(torch.tensor(dy))

    def f(xx, ss, zz):
        return (lsq_fake_quantize(xx, ss, zz, qmin, qmax, grad_factor) * mx.array(dy)).sum()

    y = lsq_fake_quantize(mx.array(x), mx.array([s]), mx.array([zp], dtype=mx.float32), qmin, qmax, grad_factor)
    gx, gs, gz = mx.grad(f, argnums=(0, 1, 2))(mx.array(x), mx.array([s]), mx.array([zp], dtype=mx.float32))
    np.testing.assert_array_equal(np.array(y), ty.detach().numpy())
    np.testing.assert_array_equal(np.array(gx), tx.grad.numpy())
    # scale / zero-point gradients are sums over 257 elements: summation order differs (float32), relative 1e-5
    np.testing.assert_allclose(np.array(gs), ts.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array(gz), tz.grad.numpy(), rtol=1e-5, atol=1e-6)


def _torch_lsq(x, s, zp, qmin, qmax, gf, dy):
    tx = torch.tensor(x, requires_grad=True)
    ts = torch.tensor([s], requires_grad=True)
    tz = torch.tensor([zp], dtype=torch.float32, requires_grad=True)
    torch._fake_quantize_learnable_per_tensor_affine(tx, ts, tz, qmin, qmax, gf).backward(torch.tensor(dy))
    return tx.grad.numpy(), ts.grad.numpy(), tz.grad.numpy()


def _ours_lsq(x, s, zp, qmin, qmax, gf, dy):
    def f(xx, ss, zz):
        return (lsq_fake_quantize(xx, ss, zz, qmin, qmax, gf) * mx.array(dy)).sum()

    g = mx.grad(f, argnums=(0, 1, 2))(mx.array(x), mx.array([s]), mx.array([zp], dtype=mx.float32))
    return tuple(np.array(v) for v in g)


@pytest.mark.parametrize("qmin,qmax,zp", [(0, 15, 3.5), (0, 255, 128.0), (-128, 127, 0.5), (0, 65535, 0.0),
                                          (0, 65535, 65535.5)])
def test_lsq_gradients_at_ties_and_large_codes_match_torch_elementwise(qmin, qmax, zp):
    # ATen's backward computes nearbyint(zp + x·inv) and (xfq - x) with fused multiply-adds (one rounding): at
    # exact ties of x/s and for large codes (cancellation in xfq - x) an unfused float32 emulation gets the wrong
    # rounding direction or a different difference. Each element alone, so no summation order is involved.
    rng = np.random.default_rng(3)
    s = float(np.float32(rng.uniform(0.001, 0.1)))
    k = np.round(rng.uniform(qmin, qmax, 40)) - np.round(zp)
    x = np.concatenate([((k + 0.5) * s), ((k - 0.5) * s), (k + rng.uniform(-0.5, 0.5, 40)) * s]).astype(np.float32)
    dy = rng.standard_normal(x.size).astype(np.float32)
    for i in range(x.size):
        want = _torch_lsq(x[i:i + 1], s, zp, qmin, qmax, 1.0, dy[i:i + 1])
        got = _ours_lsq(x[i:i + 1], s, zp, qmin, qmax, 1.0, dy[i:i + 1])
        for w, g, name in zip(want, got, ("dx", "dscale", "dzero_point"), strict=True):
            np.testing.assert_array_equal(g, w, err_msg=f"{name} at x={x[i]!r} (x/s={x[i] / s!r})")

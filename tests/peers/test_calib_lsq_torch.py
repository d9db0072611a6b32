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

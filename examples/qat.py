"""Quantization-aware training on MLX: float vs post-training quantization vs QAT, on a task made up on the spot.

The task: 24-dimensional inputs labelled into 8 classes by a fixed random "teacher" network. A small MLP learns it in
float; then its weights are quantized to 2 bits per output channel (and its activations to 8 bits) — first
post-training (PTQ: calibrate the activation observers, quantize, evaluate), then with quantization-aware training
(QAT: fine-tune with fake quantization in the forward pass and straight-through gradients). Finally the QAT model is
converted to real quantized layers, whose accuracy equals the QAT model's.

Run: ``python examples/qat.py`` (about 20-50 s on a laptop CPU; 20-45 s on 2 shared x86 cores here).
``--quick`` is the smoke-test size.
"""

from __future__ import annotations

import argparse
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_map

from mlxquant import nn as qnn


def make_task(n_train: int, n_test: int, seed: int = 0) -> tuple[mx.array, mx.array, mx.array, mx.array]:
    rng = np.random.default_rng(seed)
    d, h, k = 24, 32, 8
    w1, w2 = rng.standard_normal((d, h)) / np.sqrt(d), rng.standard_normal((h, k)) / np.sqrt(h)
    x = rng.standard_normal((n_train + n_test, d)).astype(np.float32)
    y = np.argmax(np.tanh(x @ w1) @ w2, axis=1).astype(np.int32)
    return mx.array(x[:n_train]), mx.array(y[:n_train]), mx.array(x[n_train:]), mx.array(y[n_train:])


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(24, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 8))


def accuracy(model: nn.Module, x: mx.array, y: mx.array) -> float:
    model.eval()
    return float(mx.mean(mx.argmax(model(x), axis=1) == y).item())


def train(model: nn.Module, x: mx.array, y: mx.array, epochs: int, lr: float, seed: int = 0) -> None:
    model.train()
    opt = optim.Adam(learning_rate=lr)
    loss_and_grad = nn.value_and_grad(model, lambda m, a, b: nn.losses.cross_entropy(m(a), b).mean())
    rng = np.random.default_rng(seed)
    n, bs = x.shape[0], 128
    for _ in range(epochs):
        perm = mx.array(rng.permutation(n))
        for i in range(0, n, bs):
            idx = perm[i : i + bs]
            _, grads = loss_and_grad(model, x[idx], y[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)


def clone(model: nn.Module) -> nn.Module:
    new = mlp()
    new.update(tree_map(lambda a: mx.array(a), model.parameters()))
    return new


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    p.add_argument("--weight-bits", type=int, default=2, choices=(2, 4, 8))
    p.add_argument("--act-bits", type=int, default=8, choices=(2, 4, 8))
    args = p.parse_args(argv)
    n_train, epochs, qat_epochs = (2000, 3, 2) if args.quick else (16000, 12, 10)
    t0 = time.perf_counter()
    mx.random.seed(0)
    x, y, xt, yt = make_task(n_train, 2000)

    base = mlp()
    train(base, x, y, epochs, 2e-3)
    acc_float = accuracy(base, xt, yt)

    # PTQ: swap in fake-quantized layers, calibrate the activation observers on training batches, evaluate
    kw = dict(weight_bits=args.weight_bits, act_bits=args.act_bits, act_averaging=0.1)
    ptq = qnn.prepare_qat(clone(base), **kw)
    ptq.train()
    for i in range(0, min(n_train, 4096), 256):
        ptq(x[i : i + 256])  # training mode: observers update; no optimizer step
    acc_ptq = accuracy(ptq, xt, yt)

    # QAT: the same quantization in the forward pass, fine-tuned from the float weights
    qat = qnn.prepare_qat(clone(base), **kw)
    train(qat, x, y, qat_epochs, 5e-4, seed=1)
    acc_qat = accuracy(qat, xt, yt)

    # convert to real quantized layers: same predictions as the QAT model in eval mode
    qnn.convert(qat)
    acc_conv = accuracy(qat, xt, yt)

    lost = acc_float - acc_ptq
    recovered = (acc_qat - acc_ptq) / lost if lost > 0 else 1.0
    print(f"task: 24-d inputs, 8 classes, {n_train} training / 2000 test examples")
    print(f"weights int{args.weight_bits} per channel, activations uint{args.act_bits} per tensor")
    print(f"float accuracy      {100 * acc_float:6.2f} %")
    print(f"PTQ accuracy        {100 * acc_ptq:6.2f} %")
    print(f"QAT accuracy        {100 * acc_qat:6.2f} %  (recovers {100 * recovered:.0f} % of what PTQ lost)")
    print(f"converted accuracy  {100 * acc_conv:6.2f} %")
    print(f"time {time.perf_counter() - t0:.1f} s")
    return {"float": acc_float, "ptq": acc_ptq, "qat": acc_qat, "converted": acc_conv, "recovered": recovered}


if __name__ == "__main__":
    main()

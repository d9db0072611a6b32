"""The quantization profiles disagree: the same numbers, quantized the way each runtime does it.

ONNX Runtime, PyTorch and TFLite all write ``q = round(x / scale) + zero_point``, yet give different integers for
the same input: they round ties differently, divide or multiply by a reciprocal, fuse the zero point into the
rounding, and pick scales and zero points by different rules. mlxquant reproduces each bit-exactly (a *profile*),
so a model quantized for one runtime can be checked against that runtime without running it.

    python examples/profiles.py            # tables below, in about a second
    python examples/profiles.py --verify   # also run the real onnxruntime / torch / LiteRT where installed
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import mlxquant as mq

PROFILES = list(mq.PROFILES)


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def ties() -> None:
    x = np.array([0.5, 1.5, 2.5, -0.5, -2.5], np.float32)
    print("1. Ties: x = 0.5, 1.5, 2.5, -0.5, -2.5 with scale 1 (REFERENCE §1)\n")
    rows = []
    for name in PROFILES:
        p = mq.PROFILES[name]
        rows.append(
            [
                name,
                str(mq.quantize(x, 1.0, 0, profile=name).tolist()),
                str(mq.quantize(x, 1.0, 1, profile=name).tolist()),
                f"{p.formula}, {p.rounding}",
            ]
        )
    print(table(rows, ["profile", "zero point 0", "zero point 1", "arithmetic"]))
    print(
        "\n   torch adds the zero point *before* rounding (one fused multiply-add), so an odd zero point flips the\n"
        "   tie direction; the TFLite reference kernel rounds half away from zero.\n"
    )


def near_ties(n: int = 200_000) -> None:
    rng = np.random.default_rng(0)
    s = np.float32(0.1)
    k = rng.integers(-120, 120, n).astype(np.float64)
    # values at and one float32 ulp either side of a rounding boundary, as real activations hit now and then
    base = ((k + 0.5) * np.float64(s)).astype(np.float32)
    up = np.nextafter(base, np.float32(np.inf))
    down = np.nextafter(base, np.float32(-np.inf))
    pick = rng.integers(0, 3, n)
    x = np.where(pick == 0, base, np.where(pick == 1, up, down)).astype(np.float32)
    q = {name: mq.quantize(x, s, 3, profile=name).astype(np.int16) for name in PROFILES}
    print(f"2. {n:,} values within one float32 ulp of a rounding boundary, scale 0.1, zero point 3:")
    print("   how many of the integers differ between two profiles\n")
    rows = []
    for a in PROFILES:
        rows.append([a] + [f"{int(np.count_nonzero(q[a] != q[b])):,}" if a != b else "-" for b in PROFILES])
    print(table(rows, ["", *PROFILES]))
    print(
        "\n   onnx divides (x / s); tflite (XNNPACK) multiplies by f32(1/s), which is not exactly 1/0.1, so even\n"
        "   the two round-half-even profiles disagree this close to a tie.\n"
    )


RANGES = [
    ("tanh output", -1.0, 1.0),
    ("ReLU6 output", 0.0, 6.0),
    ("batch-norm output", -2.7, 6.3),
    ("clipped residual", -3.0, 3.0),
    ("skewed activations", -2.5, 0.5),
    ("logits", -2.6, 4.2),
]


def qparams() -> None:
    from mlxquant.quant.primitives import qparams_from_minmax

    print("3. Quantization parameters for the same (min, max), int8: affine zero point and symmetric scale\n")
    rows = []
    for label, lo, hi in RANGES:
        zps = [int(qparams_from_minmax(lo, hi, "int8", profile=n).zero_point) for n in ("onnx", "torch", "tflite")]
        sym = [
            float(qparams_from_minmax(lo, hi, "int8", symmetric=True, profile=n).scale)
            for n in ("onnx", "torch", "tflite")
        ]
        mark = " *" if len(set(zps)) > 1 else ""
        rows.append([label, f"[{lo:g}, {hi:g}]", *[str(z) for z in zps], *[f"{v:.7g}" for v in sym], mark])
    header = ["data", "range", "zp onnx", "zp torch", "zp tflite", "sym onnx", "sym torch", "sym tflite", ""]
    print(table(rows, header))
    print(
        "\n   * the affine zero points differ: qmin - min/scale lands on a .5 (-0.5 for [-3, 3]); onnx rounds it\n"
        "     half-even after clipping, torch rounds min/scale first, tflite's nudge rounds half away from zero.\n"
        "   Symmetric: onnx and tflite use [-127, 127] (scale amax/127), torch [-128, 127] (amax/127.5).\n"
    )
    rng = np.random.default_rng(0)
    acts = np.clip(rng.standard_normal(10_000) * 1.5, -3.0, 3.0).astype(np.float32)
    rows = []
    q_onnx = None
    for name in ("onnx", "torch", "tflite"):
        p = mq.choose_qparams(acts, "int8", profile=name)
        q = mq.quantize(acts, p, profile=name)
        q_onnx = q if q_onnx is None else q_onnx
        y = mq.dequantize(q, p)
        err = float(np.max(np.abs(y - acts)))
        diff = int(np.count_nonzero(q != q_onnx))
        rows.append([name, f"{float(p.scale):.9g}", str(int(p.zero_point)), f"{diff:,}", f"{err:.6f}"])
    print(f"   {acts.size:,} activations clipped to [-3, 3], int8 affine, end to end:\n")
    print(table(rows, ["profile", "scale", "zero point", "q != onnx's", "max |x - dq(q(x))|"]))
    print()
    z = np.zeros(8, np.float32)
    rows = []
    for name in PROFILES:
        p = mq.choose_qparams(z, "int8", profile=name)
        rows.append([name, f"{float(p.scale):.9g}", str(int(p.zero_point))])
    print("4. An all-zero tensor: every profile gives a usable scale, and the zeros round-trip exactly\n")
    print(table(rows, ["profile", "scale", "zero point"]))
    print()


def verify() -> None:
    """Run the real runtimes on the tie table, where installed."""
    x = np.array([0.5, 1.5, 2.5, -0.5, -2.5], np.float32)
    print("5. The real runtimes on the tie table (zero point 1)\n")
    rows = []
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper

        g = helper.make_graph(
            [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5])],
            [helper.make_tensor_value_info("y", TensorProto.INT8, [5])],
            [helper.make_tensor("s", TensorProto.FLOAT, [], [1.0]), helper.make_tensor("z", TensorProto.INT8, [], [1])],
        )
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
        m.ir_version = 10
        y = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        rows.append(["onnxruntime QuantizeLinear", str(y.tolist()), str(mq.quantize(x, 1.0, 1).tolist())])
    except ImportError:
        rows.append(["onnxruntime", "not installed", ""])
    try:
        import warnings

        import torch

        warnings.filterwarnings("ignore")
        y = torch.quantize_per_tensor(torch.from_numpy(x), 1.0, 1, torch.qint8).int_repr().tolist()
        rows.append(["torch.quantize_per_tensor", str(y), str(mq.quantize(x, 1.0, 1, profile="torch").tolist())])
    except ImportError:
        rows.append(["torch", "not installed", ""])
    print(table(rows, ["runtime", "runtime says", "mlxquant says"]))
    print()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Show the quantization profiles disagreeing on real numbers.")
    ap.add_argument("--verify", action="store_true", help="also run onnxruntime and torch when installed")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    print(f"mlxquant {mq.__version__}: quantization profiles {', '.join(PROFILES)}\n")
    ties()
    near_ties()
    qparams()
    if args.verify:
        verify()
    print(f"({time.perf_counter() - t0:.2f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

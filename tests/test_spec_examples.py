"""The worked examples of docs/spec/*.md are regenerated here and must appear verbatim in the spec.

Run ``python tests/test_spec_examples.py`` to print every table (to paste after a deliberate change).
"""

from __future__ import annotations

import importlib.util
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest

import mlxquant as mq
from mlxquant.quant.formats.gguf import gguf_quantize

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "docs" / "spec"
F32 = np.float32


def _hex32(words: object) -> list[str]:
    return [f"0x{w:08X}" for w in np.asarray(words).tolist()]


def _f(v: float) -> str:
    return repr(float(F32(v)))


def tie_table() -> str:
    """quantize(x, s, 0, int8), per tensor and per axis, in each profile (near-ties, NaN, ±inf, -0.0)."""
    xs = [-2.5, -1.5, -0.5, -0.0, 0.5, 1.5, 2.5, 126.5, 1e9, np.inf, -np.inf, np.nan]
    profiles = ["onnx", "torch", "tflite", "tflite_reference"]
    rows = ["| x | s | " + " | ".join(profiles) + " | per-axis: " + " | ".join(profiles) + " |"]
    rows.append("|---" * (2 + 2 * len(profiles)) + "|")
    for x in xs:
        s = 1.0
        xa = np.array([x], F32)
        pt = [int(mq.quantize(xa, s, 0, "int8", profile=p)[0]) for p in profiles]
        pa = [int(mq.quantize(xa, np.array([s], F32), np.array([0]), "int8", axis=0, profile=p)[0]) for p in profiles]
        rows.append(f"| {x!r} | {s} | " + " | ".join(map(str, pt)) + " | " + " | ".join(map(str, pa)) + " |")
    return "\n".join(rows)


def formula_table() -> str:
    """quantize(x, f32(0.3), 0, int16): where div (x / s) and mul (x · f32(1/s)) round differently."""
    s = F32(0.3)
    xs = [F32(-599.25), F32(-598.35003662109375), F32(-596.25)]
    profiles = ["onnx", "torch", "tflite", "tflite_reference"]
    rows = ["| x | f32(x / s) | f32(x · f32(1/s)) | " + " | ".join(profiles) + " |", "|---" * (3 + len(profiles)) + "|"]
    for x in xs:
        xa = np.array([x], F32)
        q = [int(mq.quantize(xa, s, 0, "int16", profile=p)[0]) for p in profiles]
        head = f"| {float(x)!r} | {float(x / s)!r} | {float(x * (F32(1) / s))!r} | "
        rows.append(head + " | ".join(map(str, q)) + " |")
    return "\n".join(rows)


def zp_table() -> str:
    """quantize(x, s=0.5, zp=3, uint8) in each profile: where the zero point enters the rounding."""
    xs = [0.25, 0.75, -0.25, -1.75, 1e-30]
    profiles = ["onnx", "torch", "tflite", "tflite_reference"]
    rows = ["| x | " + " | ".join(profiles) + " |", "|---" * (1 + len(profiles)) + "|"]
    for x in xs:
        q = [int(mq.quantize(np.array([x], F32), 0.5, 3, "uint8", profile=p)[0]) for p in profiles]
        rows.append(f"| {x!r} | " + " | ".join(map(str, q)) + " |")
    return "\n".join(rows)


def qparams_table() -> str:
    """choose_qparams on small inputs, every profile, asymmetric and symmetric int8 / uint8."""
    inputs = {
        "[-1, 0.2, 2, 3]": [-1.0, 0.2, 2.0, 3.0],
        "[0, 0, 0]": [0.0, 0.0, 0.0],
        "[2, 2]": [2.0, 2.0],
        "[-0.5, -0.25]": [-0.5, -0.25],
    }
    rows = ["| x | dtype | symmetric | onnx (s, zp) | torch (s, zp) | tflite (s, zp) |", "|---|---|---|---|---|---|"]
    for name, x in inputs.items():
        for dt in ("int8", "uint8"):
            for sym in (False, True):
                cells = []
                for p in ("onnx", "torch", "tflite"):
                    qp = mq.choose_qparams(np.array(x, F32), dt, symmetric=sym, profile=p)
                    cells.append(f"{float(qp.scale)!r}, {int(qp.zero_point)}")
                rows.append(f"| {name} | {dt} | {sym} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def dql_example() -> str:
    """The DynamicQuantizeLinear case: onnx, uint8, asymmetric, per tensor."""
    x = np.array([-1.0, 0.2, 2.0, 3.0, np.float32(-0.0), 1.5], F32)
    p = mq.choose_qparams(x, "uint8")
    q = mq.quantize(x, p)
    d = mq.dequantize(q, p)
    return "\n".join(
        [
            "| x | " + " | ".join(_f(v) for v in x) + " |",
            "|---" * (1 + x.size) + "|",
            "| q | " + " | ".join(str(int(v)) for v in q) + " |",
            "| dequantize(q) | " + " | ".join(_f(v) for v in d) + " |",
            "",
            f"scale = {float(p.scale)!r} (bits 0x{np.asarray(p.scale, F32).view(np.uint32).item():08X}), "
            f"zero_point = {int(p.zero_point)}",
        ]
    )


def fake_table() -> str:
    """fake_quantize(x, s=0.25, zp=0, int8) and its STE mask, per profile (rounded vs clamped_input mask)."""
    from mlxquant.quant.primitives import fake_quantize_mask

    x = np.array([-32.2, -32.0, -0.1, -0.0, 0.125, 31.74, 31.8, 40.0], F32)
    rows = ["| x | " + " | ".join(_f(v) for v in x) + " |", "|---" * (1 + x.size) + "|"]
    for p in ("onnx", "torch", "tflite"):
        y = mq.fake_quantize(x, 0.25, 0, "int8", profile=p)
        m = fake_quantize_mask(x, 0.25, 0, "int8", profile=p)
        rows.append(f"| {p} y | " + " | ".join(_f(v) for v in y) + " |")
        rows.append(f"| {p} mask | " + " | ".join(_f(v) for v in np.asarray(m)) + " |")
    return "\n".join(rows)


def pack_table() -> str:
    """The three packing layouts on the same codes."""
    q = np.array([1, -2, 3, -8, 7], np.int8)
    on = mq.pack(q, 4, layout="onnx")
    ml = mq.pack(q[None], 4, layout="mlx")
    q3 = np.arange(11, dtype=np.uint8) % 8
    m3 = mq.pack(q3[None], 3, layout="mlx")
    g = mq.pack(np.arange(32, dtype=np.uint8)[None] % 16, 4, layout="gguf_q4")
    return "\n".join(
        [
            "| codes | bits | layout | packed |",
            "|---|---|---|---|",
            f"| {q.tolist()} | 4 | onnx | {' '.join(f'{b:02X}' for b in np.asarray(on).tolist())} |",
            f"| [{q.tolist()}] | 4 | mlx | {_hex32(np.asarray(ml)[0])} |",
            f"| [{q3.tolist()}] | 3 | mlx | {_hex32(np.asarray(m3)[0])} |",
            f"| [[0, 1, ..., 15, 0, 1, ..., 15]] | 4 | gguf_q4 | "
            f"{' '.join(f'{b:02X}' for b in np.asarray(g)[0].tolist())} |",
        ]
    )


def gguf_q4_0_example() -> str:
    x = (np.arange(32, dtype=F32) - 12.0) / 4.0
    b = np.asarray(gguf_quantize(x[None], "Q4_0"))[0]
    d = np.asarray(mq.gguf_dequantize(b[None], "Q4_0", (1, 32)))[0]
    return "\n".join(
        [
            "x = (arange(32) - 12) / 4  →  Q4_0 block (18 bytes):",
            "",
            "```",
            " ".join(f"{v:02X}" for v in b.tolist()),
            "```",
            "",
            "dequantized: " + ", ".join(_f(v) for v in d[:8]) + ", ..., " + ", ".join(_f(v) for v in d[-3:]),
        ]
    )


def gguf_other_example() -> str:
    x = (np.arange(32, dtype=F32) - 12.0) / 4.0
    rows = ["| type | bytes (hex) |", "|---|---|"]
    for t in ("Q8_0", "Q4_1", "Q5_0", "Q5_1"):
        b = np.asarray(gguf_quantize(x[None], t))[0]
        rows.append(f"| {t} | {' '.join(f'{v:02X}' for v in b.tolist())} |")
    return "\n".join(rows)


def mlx_affine_example() -> str:
    w = (np.arange(32, dtype=F32) - 12.0) / 4.0
    wq, s, bias = mq.mlx_quantize(w[None], 32, 4)
    deq = np.asarray(mq.mlx_dequantize(wq, s, bias, 32, 4))[0]
    codes = mq.unpack(np.asarray(wq), 4)[0]
    return "\n".join(
        [
            "w = (arange(32) - 12) / 4, group 32, 4 bits:",
            "",
            f"scale = {float(np.asarray(s)[0, 0])!r}, bias = {float(np.asarray(bias)[0, 0])!r}, "
            f"words = {_hex32(np.asarray(wq)[0])}",
            "",
            f"codes = {np.asarray(codes).tolist()}",
            "",
            "dequantized[:4] = "
            + ", ".join(_f(v) for v in deq[:4])
            + "; dequantized[-2:] = "
            + ", ".join(_f(v) for v in deq[-2:]),
        ]
    )


def mxfp4_example() -> str:
    w = np.zeros((1, 32), F32)
    w[0, :8] = [0.75, 2.5, 5.0, -0.25, -0.0, 0.25, 1.25, -5.0]
    w[0, 31] = 6.0
    wq, s, _ = mq.mlx_quantize(w, mode="mxfp4")
    codes = np.asarray(mq.unpack(np.asarray(wq), 4))[0]
    deq = np.asarray(mq.mlx_dequantize(wq, s, None, 32, 4, "mxfp4"))[0]
    return "\n".join(
        [
            "| w | " + " | ".join(_f(v) for v in w[0, :8]) + " | ... | " + _f(w[0, 31]) + " |",
            "|---" * 11 + "|",
            "| E2M1 code | " + " | ".join(str(int(c)) for c in codes[:8]) + f" | ... | {int(codes[31])} |",
            "| dequantized | " + " | ".join(_f(v) for v in deq[:8]) + " | ... | " + _f(deq[31]) + " |",
            "",
            f"scale code (E8M0) = {int(np.asarray(s)[0, 0])}, words = {_hex32(np.asarray(wq)[0])}",
        ]
    )


def float8_table() -> str:
    xs = [0.0, -0.0, 2.0**-9, 2.0**-10, 0.0013, 1.0, 1.0625, 1.1875, 240.0, 448.0, 464.0, 465.0, 1e6, np.inf, np.nan]
    x = np.array(xs, F32)
    rows = ["| x | e4m3fn | e4m3fn sat | e5m2 | e5m2 sat |", "|---|---|---|---|---|"]
    cols = [
        np.asarray(mq.to_float8(x, f, saturate=bool(s)))
        for f, s in (("e4m3fn", 0), ("e4m3fn", 1), ("e5m2", 0), ("e5m2", 1))
    ]
    for i, v in enumerate(xs):
        rows.append(f"| {float(F32(v))!r} | " + " | ".join(f"0x{int(c[i]):02X}" for c in cols) + " |")
    rows += ["", "| code | " + " | ".join(f"0x{c:02X}" for c in _CODES) + " |", "|---" * (1 + len(_CODES)) + "|"]
    for f in ("e4m3fn", "e5m2"):
        vals = np.asarray(mq.from_float8(np.array(_CODES, np.uint8), f))
        rows.append(f"| {f} | " + " | ".join(repr(float(v)) for v in vals) + " |")
    return "\n".join(rows)


def histogram_example() -> str:
    from mlxquant._backend import get_backend
    from mlxquant.quant.observers import FixedHistogram

    x = np.array([[-1.0, 0.3, 2.5, -0.0, -0.2, -4.0, 3.999]], F32)
    rows = ["| signed | e (R = 2^e) | counts (8 bins) |", "|---|---|---|"]
    for signed in (True, False):
        h = FixedHistogram(num_bins=8, signed=signed)
        h.update(get_backend(x), x)
        assert h.counts is not None and h.exp is not None
        rows.append(f"| {signed} | {int(h.exp[0])} | {h.counts[0].tolist()} |")
    return "\n".join(rows)


_CODES = [0x00, 0x01, 0x07, 0x08, 0x38, 0x7B, 0x7C, 0x7E, 0x7F, 0x80, 0xFF]


def nms_example() -> str:
    boxes = np.array(
        [[0, 0, 10, 10], [0, 0, 10, 10], [5, 0, 15, 10], [0, 0, 10, 20], [20, 20, 30, 30], [1, 0, 11, 10]], F32
    )
    scores = np.array([0.9, 0.9, 0.8, -0.0, 0.0, 0.8], F32)
    iou = np.asarray(mq.decode.box_iou(boxes, boxes))
    rows = ["| i | box (xyxy) | score | IoU with box 0 |", "|---|---|---|---|"]
    for i in range(len(boxes)):
        rows.append(f"| {i} | {boxes[i].astype(int).tolist()} | {float(scores[i])!r} | {float(iou[0, i])!r} |")
    rows.append("")
    rows.append("| call | result |")
    rows.append("|---|---|")
    for thr, cls in ((0.5, None), (1 / 3, None), (0.8, None), (0.5, [0, 1, 0, 0, 0, 1])):
        keep = mq.decode.nms(boxes, scores, thr, classes=None if cls is None else np.array(cls))
        call = f"nms(boxes, scores, {thr!r}" + ("" if cls is None else f", classes={cls}") + ")"
        rows.append(f"| `{call}` | {np.asarray(keep).tolist()} |")
    return "\n".join(rows)


def classify_example() -> str:
    rows = ["| call | indices | scores | labels |", "|---|---|---|---|"]
    calls = [
        (
            "classify([[1, 3, 3, 0]], topk=3, labels=['a', 'b', 'c'])",
            np.array([[1, 3, 3, 0]], F32),
            {"labels": ["a", "b", "c"], "topk": 3},
        ),
        (
            "classify(uint8 [[10, 30, 30, 0]], topk=2, labels=None, quant=(0.1, 0))",
            np.array([[10, 30, 30, 0]], np.uint8),
            {"labels": None, "topk": 2, "quant": (0.1, 0)},
        ),
        (
            "classify([20, 30, -1], topk=3, labels=None, multi_label=True)",
            np.array([20, 30, -1], F32),
            {"labels": None, "topk": 3, "multi_label": True},
        ),
    ]
    for text, x, kw in calls:
        c = mq.decode.classify(x, **kw)[0]
        sc = ", ".join(repr(float(v)) for v in np.asarray(c.scores))
        rows.append(f"| `{text}` | {np.asarray(c.indices).tolist()} | {sc} | {list(c.labels)} |")
    return "\n".join(rows)


def pil_weights_example() -> str:
    """Pillow antialias tables (22-bit fixed point) for 5 → 2 per method, and one row resized by each."""
    from mlxquant.vision.resize import axis_table

    rows = [
        "| method | j | center | xmin | xmax | k (= w·2²²), taps xmin … xmin + xmax − 1 |",
        "|---|---|---|---|---|---|",
    ]
    for m, support in (("bilinear", 1.0), ("bicubic", 2.0), ("area", 0.5)):
        t = axis_table(5, 2, method=m)
        for j in range(2):
            center = (j + 0.5) * 2.5
            xmin = max(math.trunc(center - support * 2.5 + 0.5), 0)
            xmax = min(math.trunc(center + support * 2.5 + 0.5), 5) - xmin
            assert int(t.idx[j, 0]) == xmin
            k = [int(v) for v in np.asarray(t.w[j][:xmax]) * 2.0**22]
            rows.append(f"| {m} | {j} | {center!r} | {xmin} | {xmax} | {k} |")
    x = np.array([[[0], [50], [100], [150], [255]]], np.uint8)
    outs = [
        np.asarray(mq.vision.resize(x, (1, 2), method=m))[0, :, 0].tolist() for m in ("bilinear", "bicubic", "area")
    ]
    rows += ["", "| row | bilinear | bicubic | area |", "|---|---|---|---|"]
    rows.append(f"| {x[0, :, 0].tolist()} → 2 | " + " | ".join(str(o) for o in outs) + " |")
    return "\n".join(rows)


def letterbox_table() -> str:
    """letterbox_params (h, w) → 640×640 and the inverse of one model-input box, exact and Ultralytics mode."""
    from mlxquant.vision import Transform, letterbox_params

    box = np.array([[100.0, 150.0, 300.0, 420.5]], F32)
    rows = [
        "| (h, w) | r | (nh, nw) | (top, bottom, left, right) | scale_x, scale_y | inverse_boxes(box) "
        '| mode="ultralytics" |',
        "|---|---|---|---|---|---|---|",
    ]
    for h, w in ((480, 640), (1080, 1920), (427, 640), (500, 375), (33, 17), (1, 1000)):
        r, (nh, nw), pad = letterbox_params((h, w), (640, 640))
        t = Transform(
            (h, w), (640, 640), nw / w, nh / h, float(pad[2]), float(pad[0]), (nh, nw), pad, (0, 0), "letterbox"
        )
        ex = np.asarray(t.inverse_boxes(box))[0]
        ul = np.asarray(t.inverse_boxes(box, mode="ultralytics"))[0]
        rows.append(
            f"| ({h}, {w}) | {r!r} | ({nh}, {nw}) | {pad} | {t.scale_x!r}, {t.scale_y!r} | "
            f"{[float(v) for v in ex]} | {[float(v) for v in ul]} |"
        )
    return "\n".join(rows)


def shorter_side_crop_table() -> str:
    """fit(..., (224, 224), strategy="shorter_side_crop") (torchvision ImageClassification arithmetic)."""
    rows = [
        "| (h, w) | resize_size | resized (nh, nw) | crop (top, left) | pad | offset_x, offset_y |",
        "|---|---|---|---|---|---|",
    ]
    for (h, w), rs in (
        ((300, 400), None),
        ((480, 640), None),
        ((375, 500), None),
        ((333, 333), None),
        ((400, 300), 232),
        ((100, 150), 200),
        ((50, 60), 100),
    ):
        _, t = mq.vision.fit(np.zeros((h, w, 1), np.uint8), (224, 224), strategy="shorter_side_crop", resize_size=rs)
        rows.append(
            f"| ({h}, {w}) | {rs if rs is not None else 'None (256)'} | {t.resized_size} | {t.crop} | {t.pad} | "
            f"{t.offset_x!r}, {t.offset_y!r} |"
        )
    return "\n".join(rows)


def yuv_example() -> str:
    """yuv_to_rgb of a 2×4 NV12 frame (two chroma blocks), video and full range."""
    y = np.array([[16, 235, 0, 255], [128, 81, 145, 41]], np.uint8)
    uv = np.array([[128, 128, 90, 240]], np.uint8)  # block 0: U=128 V=128, block 1: U=90 V=240
    f = np.concatenate([y, uv])
    from PIL import Image

    rows = ["| Y | U | V | video range RGB | full range RGB | Pillow YCbCr → RGB |", "|---|---|---|---|---|---|"]
    vr = np.asarray(mq.vision.yuv_to_rgb(f, "nv12"))
    fr = np.asarray(mq.vision.yuv_to_rgb(f, "nv12", full_range=True))
    up = lambda p: np.repeat(np.repeat(p, 2, axis=0), 2, axis=1)  # noqa: E731
    ycc = np.stack([y, up(uv[:, 0::2]), up(uv[:, 1::2])], axis=-1)
    pil = np.asarray(Image.fromarray(ycc, "YCbCr").convert("RGB"))
    for i in range(2):
        for j in range(4):
            u, v = uv[0, (j // 2) * 2], uv[0, (j // 2) * 2 + 1]
            rows.append(
                f"| {int(y[i, j])} | {int(u)} | {int(v)} | {vr[i, j].tolist()} | {fr[i, j].tolist()} | "
                f"{pil[i, j].tolist()} |"
            )
    return "\n".join(rows)


def gray_example() -> str:
    """to_gray of a few colours: Pillow and OpenCV fixed point (uint8), and the float32 formula."""
    rows = ["| RGB | pil | opencv | float32 |", "|---|---|---|---|"]
    cols = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [1, 2, 3], [200, 100, 51]]], np.uint8)
    p = np.asarray(mq.vision.to_gray(cols))
    o = np.asarray(mq.vision.to_gray(cols, weights="opencv"))
    fl = np.asarray(mq.vision.to_gray(cols.astype(F32)))
    for i in range(cols.shape[1]):
        rows.append(
            f"| {cols[0, i].tolist()} | {p.reshape(-1)[i]} | {o.reshape(-1)[i]} | {float(fl.reshape(-1)[i])!r} |"
        )
    return "\n".join(rows)


def fold_example() -> str:
    """quantize_input on uint8 pixels: the per-channel table lut[c][v] and whether it folds to an int16 add."""
    from mlxquant.vision.normalize import _integer_affine, input_lut

    rows = [
        "| normalization | quant (s, zp, dtype) | c | lut[c][v] at v = 0, 1, 127, 128, 254, 255 | applied as |",
        "|---|---|---|---|---|",
    ]
    cases = [
        ("scale", (1 / 255, -128, "int8")),
        ("scale", (1 / 255, 0, "uint8")),
        ("tensorflow", (1 / 128, 0, "int8")),
        ("imagenet", (0.018658, 114, "uint8")),
        ("raw", ([1.0, 2.0, 0.5], [0, -3, 7], "int8")),
    ]
    for norm, q in cases:
        lut, _ = input_lut(norm, q, 3)
        aff = _integer_affine(lut)
        how = f"int16 add b = {aff[1].tolist()}" if aff is not None and np.all(aff[0] == 1) else "table lookup"
        for c in range(3):
            if c and norm in ("scale", "tensorflow"):
                continue
            vals = lut[c, [0, 1, 127, 128, 254, 255]].tolist()
            rows.append(f"| {norm} | {q} | {c} | {vals} | {how} |")
    return "\n".join(rows)


def tflite_tensor_example() -> str:
    """The fields read for the input and output tensors of tools/build_models.py's int8 TFLite classifier."""
    from mlxquant._tflite import read_tflite

    spec = importlib.util.spec_from_file_location("mlxquant_tools_build_models", ROOT / "tools" / "build_models.py")
    bm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bm)
    data = bm.build_tflite_classifier(True)
    m = read_tflite(data)
    rows = [
        "| tensor | name | type | shape | shape_signature | scale | zero_point | quantized_dimension | buffer |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for role, i in (("input", m.inputs[0]), ("output", m.outputs[0])):
        t = m.tensors[i]
        rows.append(
            f"| {role} {i} | {t.name} | {t.dtype} | {list(t.shape)} | {t.shape_signature} | "
            f"{[float(v) for v in t.scale]} | {t.zero_point.tolist()} | {t.quantized_dimension} | {t.buffer} |"
        )
    w = next(t for t in m.tensors if t.scale.size > 1)
    rows.append(
        f"| weight {w.index} | {w.name} | {w.dtype} | {list(w.shape)} | {w.shape_signature} | "
        f"{[float(v) for v in w.scale[:2]]} + {w.scale.size - 2} more | {w.zero_point.tolist()} | "
        f"{w.quantized_dimension} | {w.buffer} |"
    )
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.tflite"
        p.write_bytes(data)
        info = mq.inspect_model(p)
    rows += [
        "",
        "| TensorSpec | dtype | shape | scale | zero_point | axis | qdtype | io | source | qparams |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for role, ts in (("input", info.inputs[0]), ("output", info.outputs[0])):
        rows.append(
            f"| {role} | {ts.dtype} | {ts.shape} | {np.asarray(ts.scale).tolist()} | "
            f"{np.asarray(ts.zero_point).tolist()} | {ts.axis} | {ts.qdtype} | {ts.io} | {ts.source} | {ts.qparams} |"
        )
    return "\n".join(rows)


EXAMPLES = {
    "quant.md": [tie_table, formula_table, zp_table, qparams_table, dql_example, fake_table],
    "formats.md": [pack_table, gguf_q4_0_example, gguf_other_example, mlx_affine_example, mxfp4_example],
    "calibration.md": [float8_table, histogram_example],
    "decode.md": [nms_example, classify_example],
    "vision.md": [
        pil_weights_example,
        letterbox_table,
        shorter_side_crop_table,
        gray_example,
        yuv_example,
        fold_example,
    ],
    "models.md": [tflite_tensor_example],
}


@pytest.mark.parametrize(
    "page,fn", [(p, f) for p, fs in EXAMPLES.items() for f in fs], ids=lambda v: getattr(v, "__name__", v)
)
def test_spec_example_is_current(page: str, fn) -> None:
    text = (SPEC / page).read_text()
    table = fn()
    assert table in text, f"docs/spec/{page}: the {fn.__name__} example is stale; regenerate:\n{table}"


if __name__ == "__main__":
    for page, fns in EXAMPLES.items():
        for fn in fns:
            print(f"===== {page} {fn.__name__}\n{fn()}\n")

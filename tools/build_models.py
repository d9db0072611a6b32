"""Build the small, deterministic models that mlxquant ships, tests and demonstrates with.

Every model is hand-constructed (no training, no download): it classifies pixels by their nearest *prototype colour*
(black, white, red, orange, brown, yellow, green, blue, and a grey "other"), which is enough to do something visibly
meaningful on photographs while staying a few kilobytes.

Models (``python tools/build_models.py [OUTDIR]`` writes them; ``OUTDIR`` defaults to ``mlxquant/data``):

- ``colour_detector.onnx`` — a YOLOv8-style detector: input ``images`` float32 [B, 3, 256, 256] RGB in [0, 1]
  (NCHW), output ``output0`` float32 [B, 4 + 8, N] (cx, cy, w, h in input pixels, then 8 class scores). Each
  anchor is one (class, window) pair over sliding windows of 256, 128 and 64 pixels (stride half the window); its
  score is √(fraction of the window covered by that colour) × (share of the colour's mass around the window that lies
  inside it)², and its box spans the colour's mass inside the window (centroid ± √3·σ, exact for a uniform blob).
  Shipped in ``mlxquant/data`` for ``mlxquant demo`` (docs/spec/models.md §7).
- ``colour_classifier.onnx`` — input [B, 3, 64, 64] float32 in [0, 1], output ``logits`` [B, 9]: the dominant
  colour of the image (logits = 10 × the colour fractions); ``colour_classifier_softmax.onnx`` ends in Softmax.
- ``colour_segmenter.onnx`` — input [B, 3, 128, 128], output ``logits`` [B, 9, 32, 32] (per 4×4 cell).
- ``colour_classifier_u8io.onnx`` — the classifier with uint8 input and output: ``DequantizeLinear`` right after the
  input (scale 1/255, zero point 0) and ``QuantizeLinear`` before the output; what ONNX models with integer I/O look
  like (and what ``inspect_model`` must read).
- ``colour_classifier_int8.tflite`` / ``colour_classifier_float.tflite`` — a TFLite classifier written directly as a
  FlatBuffer (``ai_edge_litert.schema_py_generated`` object API; no TensorFlow converter): uint8 input [1, 16, 16, 3]
  (scale 1/255, zero point 0) → QUANTIZE to int8 → CONV_2D over the whole image with per-channel int8 weights
  (quantized_dimension 0) and int32 bias → RESHAPE → int8 logits [1, 9]; its float twin; and
  ``colour_classifier_softmax_int8.tflite`` ending in an int8 SOFTMAX (output scale 1/256, zero point −128).
- ``colour_detector_int8.tflite`` / ``colour_detector_float.tflite`` — a TFLite YOLOv8-style detector with boxes as
  fractions of the input (Ultralytics' TFLite convention): uint8 [1, 64, 64, 3] → int8 [1, 9, 4 + 3] (red, green,
  blue colour-opponent scores of 3×3 windows; int8 LOGISTIC; one output scale 1/256 for boxes and scores); and
  ``colour_detector_int8_pixelboxes.tflite``, the classic broken export (pixel boxes sharing one coarse int8 scale).

Requires ``onnx`` (ONNX models) and ``ai-edge-litert`` + ``flatbuffers`` (TFLite models); mlxquant itself does not.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

__all__ = [
    "COLOUR_NAMES",
    "DETECTOR_LABELS",
    "DETECTOR_QUANT_NODES",
    "DETECTOR_SIZE",
    "PROTOTYPES",
    "TFLITE_DETECTOR_LABELS",
    "build_classifier",
    "build_classifier_u8io",
    "build_detector",
    "build_segmenter",
    "build_tflite_classifier",
    "build_tflite_detector",
    "calibration_images",
    "main",
    "quantize_onnx",
]

#: Prototype colours (RGB in [0, 1]); the last one, grey, is "other" and never reported as a detection.
PROTOTYPES: dict[str, tuple[float, float, float]] = {
    "black": (0.05, 0.05, 0.06), "white": (0.93, 0.93, 0.93), "red": (0.75, 0.12, 0.12),
    "orange": (0.85, 0.55, 0.25), "brown": (0.40, 0.25, 0.15), "yellow": (0.90, 0.85, 0.20),
    "green": (0.20, 0.60, 0.20), "blue": (0.15, 0.25, 0.70), "other": (0.50, 0.50, 0.50),
}
COLOUR_NAMES = list(PROTOTYPES)
DETECTOR_LABELS = COLOUR_NAMES[:-1]
DETECTOR_SIZE = 256
#: Sharpness of the per-pixel colour softmax (logits = k·(2·x·p − |p|²), the negated squared distance up to a
#: per-pixel constant); 20 makes clearly coloured pixels near one-hot (a grey pixel keeps < 2 % of green).
COLOUR_SHARPNESS = 20.0
OPSET = 17


def _colour_conv_weights() -> tuple[np.ndarray, np.ndarray]:
    """1×1 conv computing k·(2·x·p_c − |p_c|²) for every prototype c: weight [C, 3, 1, 1], bias [C]."""
    p = np.array([PROTOTYPES[n] for n in COLOUR_NAMES], np.float32)
    w = (COLOUR_SHARPNESS * 2.0 * p).reshape(len(p), 3, 1, 1).astype(np.float32)
    bias = (-COLOUR_SHARPNESS * (p**2).sum(1)).astype(np.float32)
    return w, bias


def _model(nodes, inputs, outputs, inits, name, labels=COLOUR_NAMES):
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="mlxquant-tools")
    model.ir_version = 8
    # class names the way Ultralytics exports store them (a Python dict literal under "names")
    helper.set_model_props(model, {"names": repr(dict(enumerate(labels))), "description": name})
    onnx.checker.check_model(model)
    return model


def _t(name: str, a: np.ndarray):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.ascontiguousarray(a), name)


def _colour_probs(nodes: list, inits: list, src: str) -> str:
    """Append the per-pixel colour probabilities [B, 9, H, W]: softmax over c of −k·|x − p_c|².

    Written with 1×1 convolutions instead of ``Softmax(axis=1)`` (onnxruntime runs a channel-axis softmax on NCHW
    through a transpose, 30× slower here): logits_c = k·(2·x·p_c − |p_c|²) − k·|x|² = −k·|x − p_c|² ≤ 0, so exp never
    overflows and needs no max subtraction; the nearest prototype is always within distance √3 so the sum never
    underflows to 0 (exp(−20·3) ≈ 9e-27 > float32 tiny).
    """
    from onnx import helper

    w, bias = _colour_conv_weights()
    c = w.shape[0]
    inits += [_t("colour_w", w), _t("colour_b", bias), _t("ones_3", np.ones((1, 3, 1, 1), np.float32)),
              _t("ones_c", np.ones((1, c, 1, 1), np.float32)), _t("k_sharp", np.array(COLOUR_SHARPNESS, np.float32))]
    nodes += [
        helper.make_node("Conv", [src, "colour_w", "colour_b"], ["colour_logits"], name="colour_conv"),
        helper.make_node("Mul", [src, src], ["x_sq"], name="colour_sq"),
        helper.make_node("Conv", ["x_sq", "ones_3"], ["x_norm"], name="colour_norm"),
        helper.make_node("Mul", ["x_norm", "k_sharp"], ["x_norm_k"], name="colour_norm_k"),
        helper.make_node("Sub", ["colour_logits", "x_norm_k"], ["colour_dist"], name="colour_dist"),
        helper.make_node("Exp", ["colour_dist"], ["colour_e"], name="colour_exp"),
        helper.make_node("Conv", ["colour_e", "ones_c"], ["colour_z"], name="colour_sum"),
        helper.make_node("Div", ["colour_e", "colour_z"], ["colour_p"], name="colour_softmax"),
    ]
    return "colour_p"


def build_detector(size: int = DETECTOR_SIZE, windows: tuple[int, ...] = (256, 128, 64)):
    """The YOLOv8-style colour-region detector (see the module docstring)."""
    from onnx import TensorProto, helper

    c = len(DETECTOR_LABELS)
    nodes: list = []
    inits: list = []
    p = _colour_probs(nodes, inits, "images")
    coords = np.arange(size, dtype=np.float32) + 0.5  # pixel centres, in input pixels
    inits += [
        _t("starts0", np.array([0], np.int64)), _t("ends_c", np.array([c], np.int64)),
        _t("axes1", np.array([1], np.int64)),
        _t("shape_cls", np.array([-1, 1, size, size], np.int64)),
        _t("xs", coords.reshape(1, 1, 1, size)), _t("ys", coords.reshape(1, 1, size, 1)),
        _t("xs2", (coords**2).reshape(1, 1, 1, size)), _t("ys2", (coords**2).reshape(1, 1, size, 1)),
        _t("eps", np.array(1e-6, np.float32)),  # keeps the centroid finite where a colour is absent
        _t("twelve", np.array(12.0, np.float32)),  # uniform distribution: variance = width² / 12
        _t("four", np.array(4.0, np.float32)),  # the 2K window holds 4× the K window's pixels
        _t("one", np.array(1.0, np.float32)),
        _t("zero", np.array(0.0, np.float32)),
        _t("eye", np.eye(c, dtype=np.float32).reshape(1, c, c, 1)),
        _t("shape_bcn", np.array([0, c, -1], np.int64)),
        _t("shape_b4n", np.array([0, 4, -1], np.int64)),
    ]
    nodes += [
        helper.make_node("Slice", [p, "starts0", "ends_c", "axes1"], ["p_fg"], name="drop_other"),
        helper.make_node("Reshape", ["p_fg", "shape_cls"], ["p1"], name="classes_as_batch"),
        helper.make_node("Mul", ["p1", "xs"], ["px"], name="m_x"),
        helper.make_node("Mul", ["p1", "ys"], ["py"], name="m_y"),
        helper.make_node("Mul", ["p1", "xs2"], ["pxx"], name="m_xx"),
        helper.make_node("Mul", ["p1", "ys2"], ["pyy"], name="m_yy"),
    ]
    # Every window is a union of CELL×CELL cells (window sizes and strides are multiples of CELL), so each sum is
    # pooled once per cell and the windows pool the cell grid: the mean of equal-sized cell means is the window mean.
    cell = min(windows) // 2
    for src in ("p1", "px", "py", "pxx", "pyy"):
        nodes.append(helper.make_node("AveragePool", [src], [f"cell_{src}"], name=f"cell_{src}",
                                      kernel_shape=[cell, cell], strides=[cell, cell]))
    parts = {k: [] for k in ("cx", "cy", "w", "h", "f")}
    for k in windows:
        s = k // 2
        nw = ((size - k) // s + 1) ** 2
        inits.append(_t(f"shape_flat_{k}", np.array([-1, c, nw], np.int64)))
        kc, sc = k // cell, s // cell  # window and stride in cells
        pool = {"kernel_shape": [kc, kc], "strides": [sc, sc]}
        for src in ("p1", "px", "py", "pxx", "pyy"):
            nodes.append(helper.make_node("AveragePool", [f"cell_{src}"], [f"{src}_{k}"], name=f"pool_{src}_{k}",
                                          **pool))
        # score = sqrt(fraction in the window) · completeness², completeness = the share of the colour's mass in the
        # window and its ring (the centred 2K window, zero-padded) that lies inside the window, capped at 1; squared
        # so that a window holding the whole blob beats a smaller one inside it by a clear margin
        nodes += [
            helper.make_node("AveragePool", ["cell_p1"], [f"ring_{k}"], name=f"pool_ring_{k}",
                             kernel_shape=[2 * kc, 2 * kc], strides=[sc, sc], pads=[sc, sc, sc, sc],
                             count_include_pad=1),
            helper.make_node("Mul", [f"ring_{k}", "four"], [f"ring4_{k}"], name=f"ring4_{k}"),
            helper.make_node("Add", [f"ring4_{k}", "eps"], [f"ring4e_{k}"], name=f"ring4e_{k}"),
            helper.make_node("Div", [f"p1_{k}", f"ring4e_{k}"], [f"compl0_{k}"], name=f"compl0_{k}"),
            helper.make_node("Min", [f"compl0_{k}", "one"], [f"compl_{k}"], name=f"compl_{k}"),
            helper.make_node("Sqrt", [f"p1_{k}"], [f"sqrt_f_{k}"], name=f"sqrt_f_{k}"),
            helper.make_node("Mul", [f"compl_{k}", f"compl_{k}"], [f"compl2_{k}"], name=f"compl2_{k}"),
            helper.make_node("Mul", [f"sqrt_f_{k}", f"compl2_{k}"], [f"score_{k}"], name=f"score_{k}"),
        ]
        nodes += [
            helper.make_node("Add", [f"p1_{k}", "eps"], [f"m0_{k}"], name=f"m0_{k}"),
            helper.make_node("Div", [f"px_{k}", f"m0_{k}"], [f"cx_{k}"], name=f"cx_{k}"),
            helper.make_node("Div", [f"py_{k}", f"m0_{k}"], [f"cy_{k}"], name=f"cy_{k}"),
            helper.make_node("Div", [f"pxx_{k}", f"m0_{k}"], [f"exx_{k}"], name=f"exx_{k}"),
            helper.make_node("Div", [f"pyy_{k}", f"m0_{k}"], [f"eyy_{k}"], name=f"eyy_{k}"),
            helper.make_node("Mul", [f"cx_{k}", f"cx_{k}"], [f"cx2_{k}"], name=f"cx2_{k}"),
            helper.make_node("Mul", [f"cy_{k}", f"cy_{k}"], [f"cy2_{k}"], name=f"cy2_{k}"),
            helper.make_node("Sub", [f"exx_{k}", f"cx2_{k}"], [f"vx0_{k}"], name=f"vx0_{k}"),
            helper.make_node("Sub", [f"eyy_{k}", f"cy2_{k}"], [f"vy0_{k}"], name=f"vy0_{k}"),
            helper.make_node("Max", [f"vx0_{k}", "zero"], [f"vx_{k}"], name=f"vx_{k}"),  # rounding can go < 0
            helper.make_node("Max", [f"vy0_{k}", "zero"], [f"vy_{k}"], name=f"vy_{k}"),
            helper.make_node("Mul", [f"vx_{k}", "twelve"], [f"vx12_{k}"], name=f"vx12_{k}"),
            helper.make_node("Mul", [f"vy_{k}", "twelve"], [f"vy12_{k}"], name=f"vy12_{k}"),
            helper.make_node("Sqrt", [f"vx12_{k}"], [f"w_{k}"], name=f"w_{k}"),
            helper.make_node("Sqrt", [f"vy12_{k}"], [f"h_{k}"], name=f"h_{k}"),
        ]
        for q, src in (("cx", f"cx_{k}"), ("cy", f"cy_{k}"), ("w", f"w_{k}"), ("h", f"h_{k}"), ("f", f"score_{k}")):
            nodes.append(helper.make_node("Reshape", [src, f"shape_flat_{k}"], [f"{q}_{k}_flat"], name=f"flat_{q}_{k}"))
            parts[q].append(f"{q}_{k}_flat")
    for q, names in parts.items():  # [B, C, Nw] over all windows
        nodes.append(helper.make_node("Concat", names, [f"{q}_all"], axis=2, name=f"cat_{q}"))
    for q in ("cx", "cy", "w", "h"):
        nodes.append(helper.make_node("Unsqueeze", [f"{q}_all", "axes1"], [f"{q}_u"], name=f"unsq_{q}"))
    nodes += [
        helper.make_node("Concat", ["cx_u", "cy_u", "w_u", "h_u"], ["box4"], axis=1, name="cat_box"),
        helper.make_node("Reshape", ["box4", "shape_b4n"], ["boxes"], name="flat_boxes"),  # [B, 4, C·Nw]
        helper.make_node("Unsqueeze", ["f_all", "axes1"], ["f_u"], name="unsq_f"),  # [B, 1, C, Nw]
        helper.make_node("Mul", ["f_u", "eye"], ["f_diag"], name="one_class_per_anchor"),  # [B, C, C, Nw]
        helper.make_node("Reshape", ["f_diag", "shape_bcn"], ["scores"], name="flat_scores"),  # [B, C, C·Nw]
        helper.make_node("Concat", ["boxes", "scores"], ["output0"], axis=1, name="head"),
    ]
    n = sum(((size - k) // (k // 2) + 1) ** 2 for k in windows) * c
    inp = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, size, size])
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", 4 + c, n])
    return _model(nodes, [inp], [out], inits, "colour_detector", DETECTOR_LABELS)


def build_classifier(size: int = 64, softmax: bool = False):
    """Dominant-colour classifier: logits = 10 · (fraction of the image of each colour), [B, 9] (with ``softmax``
    the output is ``probs`` = softmax of those logits, as many exported classifiers end)."""
    from onnx import TensorProto, helper

    c = len(COLOUR_NAMES)
    nodes: list = []
    inits: list = []
    p = _colour_probs(nodes, inits, "input")
    inits += [_t("fc_w", (10.0 * np.eye(c)).astype(np.float32)), _t("fc_b", np.zeros(c, np.float32))]
    nodes += [
        helper.make_node("GlobalAveragePool", [p], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["feat"], axis=1, name="flatten"),
        helper.make_node("Gemm", ["feat", "fc_w", "fc_b"], ["logits"], transB=1, name="fc"),
    ]
    out_name = "logits"
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], axis=1, name="probs"))
        out_name = "probs"
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, size, size])
    out = helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["batch", c])
    return _model(nodes, [inp], [out], inits, "colour_classifier")


def build_segmenter(size: int = 128, cell: int = 4):
    """Per-cell colour segmenter: logits [B, 9, size/cell, size/cell] (colour logits of the cell's mean colour)."""
    from onnx import TensorProto, helper

    c = len(COLOUR_NAMES)
    w, bias = _colour_conv_weights()
    inits = [_t("colour_w", w), _t("colour_b", bias)]
    nodes = [
        helper.make_node("AveragePool", ["input"], ["cells"], kernel_shape=[cell, cell], strides=[cell, cell],
                         name="cells"),
        helper.make_node("Conv", ["cells", "colour_w", "colour_b"], ["logits"], name="colour_conv"),
    ]
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, size, size])
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", c, size // cell, size // cell])
    return _model(nodes, [inp], [out], inits, "colour_segmenter")


#: Output quantization of the uint8-I/O classifier: logits lie in [0, 10] (10 × a fraction), so 10/255 per step.
U8IO_OUT_SCALE = np.float32(10.0 / 255.0)


def build_classifier_u8io(size: int = 64):
    """The classifier with uint8 input (DequantizeLinear 1/255, 0) and uint8 output (QuantizeLinear 10/255, 0)."""
    import onnx
    from onnx import TensorProto, helper

    fm = build_classifier(size)
    g = fm.graph
    inits = [
        *g.initializer,
        _t("in_scale", np.array(1.0 / 255.0, np.float32)), _t("in_zp", np.array(0, np.uint8)),
        _t("out_scale", np.array(U8IO_OUT_SCALE, np.float32)), _t("out_zp", np.array(0, np.uint8)),
    ]
    nodes = [helper.make_node("DequantizeLinear", ["input_u8", "in_scale", "in_zp"], ["input"], name="dq_input")]
    nodes += list(g.node)
    nodes.append(helper.make_node("QuantizeLinear", ["logits", "out_scale", "out_zp"], ["logits_u8"], name="q_out"))
    inp = helper.make_tensor_value_info("input_u8", TensorProto.UINT8, ["batch", 3, size, size])
    out = helper.make_tensor_value_info("logits_u8", TensorProto.UINT8, ["batch", len(COLOUR_NAMES)])
    m = _model(nodes, [inp], [out], inits, "colour_classifier_u8io")
    onnx.checker.check_model(m)
    return m


def calibration_images(n: int = 16, size: int = 64, seed: int = 0) -> np.ndarray:
    """Deterministic NCHW float32 images in [0, 1]: first one solid image per prototype colour (so that calibration
    sees every class's full output range), then 1-3 rectangles of prototype colours on a solid background; every
    other image carries Gaussian noise (σ 0.03)."""
    rng = np.random.default_rng(seed)
    protos = np.array(list(PROTOTYPES.values()), np.float32)
    out = np.empty((n, 3, size, size), np.float32)
    for i in range(n):
        solid = i < len(protos)
        colour = protos[i] if solid else protos[rng.integers(len(protos))]
        img = np.broadcast_to(colour[:, None, None], (3, size, size)).copy()
        for _ in range(0 if solid else rng.integers(1, 4)):
            y0, x0 = rng.integers(0, size // 2, 2)
            h, w = rng.integers(size // 8, size // 2, 2)
            img[:, y0:y0 + h, x0:x0 + w] = protos[rng.integers(len(protos))][:, None, None]
        img += rng.normal(0.0, 0.03 * (i % 2), img.shape).astype(np.float32)
        out[i] = np.clip(img, 0.0, 1.0)
    return out


def quantize_onnx(float_path: str | Path, out_path: str | Path, calibration: np.ndarray, *,
                  per_channel: bool = True, nodes: list[str] | None = None) -> Path:
    """Quantize a float ONNX model with onnxruntime's own ``quantize_static`` (QDQ, int8, MinMax calibration)."""
    from mlxquant.runtimes import ort_quantize_static

    return ort_quantize_static(float_path, out_path, calibration, per_channel=per_channel, nodes=nodes)


#: The detector nodes that get quantized: the demo's recipe (defined with the demo, which ships in the package).
from mlxquant.commands.demo import DETECTOR_QUANT_NODES  # noqa: E402


class _TFLiteWriter:
    """Writes a one-subgraph TFLite model with the object API of ``ai_edge_litert.schema_py_generated``."""

    def __init__(self) -> None:
        from ai_edge_litert import schema_py_generated as s

        self.s = s
        self.tensors: list = []
        self.buffers: list = [s.BufferT()]  # buffer 0 is the empty sentinel
        self.ops: list = []
        self.opcodes: list = []

    def tensor(self, name: str, shape, ttype: int, data: np.ndarray | None = None, scale=None, zp=None,
               qdim: int = 0) -> int:
        s = self.s
        b = s.BufferT()
        if data is not None:
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
        self.buffers.append(b)
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer = name, list(shape), ttype, len(self.buffers) - 1
        if scale is not None:
            qp = s.QuantizationParametersT()
            qp.scale = [float(v) for v in np.atleast_1d(scale)]
            qp.zeroPoint = [int(v) for v in np.atleast_1d(zp)]
            qp.quantizedDimension = qdim
            t.quantization = qp
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, code: int, ins, outs, opt_type: int = 0, opt=None) -> None:
        s = self.s
        codes = [o.builtinCode for o in self.opcodes]
        if code not in codes:
            oc = s.OperatorCodeT()
            oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), 1
            self.opcodes.append(oc)
            codes.append(code)
        o = s.OperatorT()
        o.opcodeIndex = codes.index(code)
        o.inputs, o.outputs = list(ins), list(outs)
        if opt is not None:
            o.builtinOptionsType, o.builtinOptions = opt_type, opt
        self.ops.append(o)

    def conv_options(self, stride: int):
        o = self.s.Conv2DOptionsT()
        o.padding = self.s.Padding.VALID
        o.strideW = o.strideH = stride
        o.dilationWFactor = o.dilationHFactor = 1
        return o

    def finish(self, inputs: list[int], outputs: list[int], description: str) -> bytes:
        import flatbuffers

        s = self.s
        sg = s.SubGraphT()
        sg.tensors, sg.inputs, sg.outputs, sg.operators, sg.name = self.tensors, inputs, outputs, self.ops, "main"
        model = s.ModelT()
        model.version = 3
        model.operatorCodes = self.opcodes
        model.subgraphs = [sg]
        model.buffers = self.buffers
        model.description = description
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


def _per_channel_int8(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 weights in [−127, 127] per output channel (axis 0), scale = amax / 127 (TFLite spec)."""
    scale = (np.abs(w).reshape(w.shape[0], -1).max(1) / 127.0).astype(np.float32)
    return np.clip(np.round(w / scale.reshape(-1, *([1] * (w.ndim - 1)))), -127, 127).astype(np.int8), scale


def build_tflite_classifier(quantized: bool = True, size: int = 16, softmax: bool = False) -> bytes:
    """The TFLite colour classifier as FlatBuffer bytes (see the module docstring); ``softmax`` appends SOFTMAX
    (int8 output scale 1/256, zero point −128, the TFLite spec), as quantized MobileNets end."""
    c = len(COLOUR_NAMES)
    p = np.array(list(PROTOTYPES.values()), np.float32)
    k = 10.0  # logit sharpness of the average-colour classifier
    # logits_c = mean over pixels of k·(2·x·p_c) − k·|p_c|²  (the |x|² term is common to every class)
    w = np.broadcast_to((k * 2.0 * p / (size * size))[:, None, None, :], (c, size, size, 3)).astype(np.float32)
    bias = (-k * (p**2).sum(1)).astype(np.float32)
    wr = _TFLiteWriter()
    s = wr.s
    bo, tt = s.BuiltinOperator, s.TensorType
    conv_opt = wr.conv_options(1)
    reshape_opt = s.ReshapeOptionsT()
    reshape_opt.newShape = [1, c]
    shape_data = np.array([1, c], np.int32)
    if quantized:
        s_in = np.float32(1.0 / 255.0)
        t_u8 = wr.tensor("image_u8", [1, size, size, 3], tt.UINT8, scale=s_in, zp=0)
        # int8 activations: asymmetric, zero point −128 for [0, 1] inputs (the TFLite spec's int8 activations)
        t_i8 = wr.tensor("image_i8", [1, size, size, 3], tt.INT8, scale=s_in, zp=-128)
        w_q, w_scale = _per_channel_int8(w)
        t_w = wr.tensor("colour_w", w_q.shape, tt.INT8, w_q, scale=w_scale, zp=np.zeros(c, np.int64), qdim=0)
        b_scale = (s_in * w_scale).astype(np.float32)  # bias scale = input scale × weight scale (TFLite spec)
        b_q = np.round(bias / b_scale).astype(np.int32)
        t_b = wr.tensor("colour_b", [c], tt.INT32, b_q, scale=b_scale, zp=np.zeros(c, np.int64), qdim=0)
        lo, hi = float(bias.min() - 0.2), float((2 * k * p).sum(1).max() + bias.max())
        o_scale = np.float32((hi - lo) / 255.0)
        o_zp = int(np.clip(np.round(-128 - lo / o_scale), -128, 127))
        t_conv = wr.tensor("conv_out", [1, 1, 1, c], tt.INT8, scale=o_scale, zp=o_zp)
        t_shape = wr.tensor("shape", [2], tt.INT32, shape_data)
        t_out = wr.tensor("logits", [1, c], tt.INT8, scale=o_scale, zp=o_zp)
        wr.op(bo.QUANTIZE, [t_u8], [t_i8])
        wr.op(bo.CONV_2D, [t_i8, t_w, t_b], [t_conv], s.BuiltinOptions.Conv2DOptions, conv_opt)
        wr.op(bo.RESHAPE, [t_conv, t_shape], [t_out], s.BuiltinOptions.ReshapeOptions, reshape_opt)
        inputs, outputs = [t_u8], [t_out]
        if softmax:
            t_prob = wr.tensor("probs", [1, c], tt.INT8, scale=np.float32(1 / 256), zp=-128)
            opt = s.SoftmaxOptionsT()
            opt.beta = 1.0
            wr.op(bo.SOFTMAX, [t_out], [t_prob], s.BuiltinOptions.SoftmaxOptions, opt)
            outputs = [t_prob]
    else:
        t_in = wr.tensor("image", [1, size, size, 3], tt.FLOAT32)
        t_w = wr.tensor("colour_w", w.shape, tt.FLOAT32, w)
        t_b = wr.tensor("colour_b", [c], tt.FLOAT32, bias)
        t_conv = wr.tensor("conv_out", [1, 1, 1, c], tt.FLOAT32)
        t_shape = wr.tensor("shape", [2], tt.INT32, shape_data)
        t_out = wr.tensor("logits", [1, c], tt.FLOAT32)
        wr.op(bo.CONV_2D, [t_in, t_w, t_b], [t_conv], s.BuiltinOptions.Conv2DOptions, conv_opt)
        wr.op(bo.RESHAPE, [t_conv, t_shape], [t_out], s.BuiltinOptions.ReshapeOptions, reshape_opt)
        inputs, outputs = [t_in], [t_out]
    return wr.finish(inputs, outputs, "mlxquant colour classifier (tools/build_models.py)")


#: Classes of the TFLite detector: colour-opponent channels R − (G+B)/2, G − (R+B)/2, B − (R+G)/2.
TFLITE_DETECTOR_LABELS = ["red", "green", "blue"]


def build_tflite_detector(quantized: bool = True, size: int = 64, normalized: bool = True) -> bytes:
    """A YOLOv8-style TFLite detector with *normalized* boxes, like Ultralytics' TFLite exports.

    uint8 input [1, size, size, 3] (scale 1/255) → QUANTIZE → CONV_2D over 3×3 windows of size/2 (stride size/4;
    per-channel int8 weights: the window mean of each colour-opponent channel, × 12, − 3) → LOGISTIC (int8 output
    scale 1/256, zero point −128, the TFLite spec) → RESHAPE [1, 9, 3] → CONCATENATION with constant boxes [1, 9, 4]
    (cx, cy, w, h of each window divided by the input size) → int8 [1, 9, 7] = [B, anchors, 4 + classes]. Boxes and
    scores share one output scale (1/256), which works because both lie in [0, 1]. The float twin has float I/O.

    ``normalized=False`` builds the classic broken export instead: boxes in input pixels (0..size) in the same int8
    output as the scores, so the one output scale is size/255 per step and the scores collapse to a few levels (the
    scores are requantized from the LOGISTIC's 1/256 scale by a QUANTIZE op; int8 CONCATENATION needs equal scales).
    """
    c = len(TFLITE_DETECTOR_LABELS)
    win, stride = size // 2, size // 4
    g = (size - win) // stride + 1
    opp = np.array([[1.0, -0.5, -0.5], [-0.5, 1.0, -0.5], [-0.5, -0.5, 1.0]], np.float32)
    alpha, beta = 12.0, 3.0  # a pure prototype colour in the window scores ≈ sigmoid(12·0.6 − 3) ≈ 0.99, grey 0.05
    w = np.broadcast_to((alpha * opp / (win * win))[:, None, None, :], (c, win, win, 3)).astype(np.float32)
    bias = np.full(c, -beta, np.float32)
    centres = (np.arange(g) * stride + win / 2) / size
    if not normalized:
        centres = centres * size
    cy, cx = np.meshgrid(centres, centres, indexing="ij")
    side = win / size if normalized else float(win)
    boxes = np.stack([cx.ravel(), cy.ravel(), np.full(g * g, side), np.full(g * g, side)], 1)
    boxes = boxes.reshape(1, g * g, 4).astype(np.float32)
    wr = _TFLiteWriter()
    s = wr.s
    bo, tt = s.BuiltinOperator, s.TensorType
    reshape_opt = s.ReshapeOptionsT()
    reshape_opt.newShape = [1, g * g, c]
    cat_opt = s.ConcatenationOptionsT()
    cat_opt.axis = 2
    shape_data = np.array([1, g * g, c], np.int32)
    if quantized:
        s_in = np.float32(1.0 / 255.0)
        s_out, z_out = np.float32(1.0 / 256.0), -128  # TFLite int8 LOGISTIC output parameters
        t_u8 = wr.tensor("image_u8", [1, size, size, 3], tt.UINT8, scale=s_in, zp=0)
        t_i8 = wr.tensor("image_i8", [1, size, size, 3], tt.INT8, scale=s_in, zp=-128)
        w_q, w_scale = _per_channel_int8(w)
        t_w = wr.tensor("opp_w", w_q.shape, tt.INT8, w_q, scale=w_scale, zp=np.zeros(c, np.int64), qdim=0)
        b_scale = (s_in * w_scale).astype(np.float32)
        t_b = wr.tensor("opp_b", [c], tt.INT32, np.round(bias / b_scale).astype(np.int32), scale=b_scale,
                        zp=np.zeros(c, np.int64), qdim=0)
        lo, hi = -alpha - beta, alpha - beta  # opponent means lie in [−1, 1]
        c_scale = np.float32((hi - lo) / 255.0)
        c_zp = int(np.round(-128 - lo / c_scale))
        t_conv = wr.tensor("logit", [1, g, g, c], tt.INT8, scale=c_scale, zp=c_zp)
        t_sig = wr.tensor("score", [1, g, g, c], tt.INT8, scale=s_out, zp=z_out)
        t_shape = wr.tensor("shape", [3], tt.INT32, shape_data)
        t_flat = wr.tensor("scores", [1, g * g, c], tt.INT8, scale=s_out, zp=z_out)
        # one output scale: 1/256 for normalized boxes; (size + 1)/255 for pixel boxes in [0, size]
        o_scale, o_zp = (s_out, z_out) if normalized else (np.float32((size + 1) / 255.0), -128)
        b_q = np.clip(np.round(boxes / o_scale) + o_zp, -128, 127).astype(np.int8)
        t_box = wr.tensor("boxes", [1, g * g, 4], tt.INT8, b_q, scale=o_scale, zp=o_zp)
        t_out = wr.tensor("output0", [1, g * g, 4 + c], tt.INT8, scale=o_scale, zp=o_zp)
        wr.op(bo.QUANTIZE, [t_u8], [t_i8])
        wr.op(bo.CONV_2D, [t_i8, t_w, t_b], [t_conv], s.BuiltinOptions.Conv2DOptions, wr.conv_options(stride))
        inputs = [t_u8]
    else:
        t_in = wr.tensor("image", [1, size, size, 3], tt.FLOAT32)
        t_w = wr.tensor("opp_w", w.shape, tt.FLOAT32, w)
        t_b = wr.tensor("opp_b", [c], tt.FLOAT32, bias)
        t_conv = wr.tensor("logit", [1, g, g, c], tt.FLOAT32)
        t_sig = wr.tensor("score", [1, g, g, c], tt.FLOAT32)
        t_shape = wr.tensor("shape", [3], tt.INT32, shape_data)
        t_flat = wr.tensor("scores", [1, g * g, c], tt.FLOAT32)
        t_box = wr.tensor("boxes", [1, g * g, 4], tt.FLOAT32, boxes)
        t_out = wr.tensor("output0", [1, g * g, 4 + c], tt.FLOAT32)
        wr.op(bo.CONV_2D, [t_in, t_w, t_b], [t_conv], s.BuiltinOptions.Conv2DOptions, wr.conv_options(stride))
        inputs = [t_in]
    wr.op(bo.LOGISTIC, [t_conv], [t_sig])
    wr.op(bo.RESHAPE, [t_sig, t_shape], [t_flat], s.BuiltinOptions.ReshapeOptions, reshape_opt)
    if quantized and not normalized:  # requantize the scores to the shared (coarse) output scale
        t_req = wr.tensor("scores_requant", [1, g * g, c], tt.INT8, scale=o_scale, zp=o_zp)
        wr.op(bo.QUANTIZE, [t_flat], [t_req])
        t_flat = t_req
    wr.op(bo.CONCATENATION, [t_box, t_flat], [t_out], s.BuiltinOptions.ConcatenationOptions, cat_opt)
    kind = "normalized boxes" if normalized else "pixel boxes sharing the int8 output scale"
    return wr.finish(inputs, [t_out], f"mlxquant colour-opponent detector, {kind} (tools/build_models.py)")


def main(argv: list[str] | None = None) -> int:
    """Write every model into OUTDIR (default ``mlxquant/data``; only the detector is shipped there)."""
    import onnx

    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "mlxquant" / "data"
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(build_detector(), str(out / "colour_detector.onnx"))
    if argv:  # the test models go only where asked
        onnx.save(build_classifier(), str(out / "colour_classifier.onnx"))
        onnx.save(build_segmenter(), str(out / "colour_segmenter.onnx"))
        onnx.save(build_classifier_u8io(), str(out / "colour_classifier_u8io.onnx"))
        (out / "colour_classifier_int8.tflite").write_bytes(build_tflite_classifier(True))
        (out / "colour_classifier_float.tflite").write_bytes(build_tflite_classifier(False))
        (out / "colour_classifier_softmax_int8.tflite").write_bytes(build_tflite_classifier(True, softmax=True))
        onnx.save(build_classifier(softmax=True), str(out / "colour_classifier_softmax.onnx"))
        (out / "colour_detector_int8.tflite").write_bytes(build_tflite_detector(True))
        (out / "colour_detector_float.tflite").write_bytes(build_tflite_detector(False))
        (out / "colour_detector_int8_pixelboxes.tflite").write_bytes(build_tflite_detector(True, normalized=False))
    for f in sorted(out.glob("colour_*")):
        print(f"{f}  {f.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

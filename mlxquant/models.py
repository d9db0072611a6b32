"""Read a model file's inputs and outputs — names, shapes, dtypes and quantization parameters.

``inspect_model(path)`` reads ``.tflite`` files with mlxquant's own FlatBuffer reader (no peer package needed) and
``.onnx`` files with the ``onnx`` package (``pip install 'mlxquant[onnx]'``). Nothing is executed.

Where the parameters come from (docs/spec/models.md has the full rules):

* **TFLite**: the tensor's own ``QuantizationParameters`` (``scale``, ``zero_point``, ``quantized_dimension``).
  A tensor with no scale (or all-zero scales) is not quantized.
* **ONNX**: an integer graph input consumed by ``DequantizeLinear`` takes that node's scale / zero point / axis
  (``io="integer"``: the caller feeds quantized values); a float input consumed by ``QuantizeLinear`` (onnxruntime's
  QDQ models) takes that node's parameters with ``io="float"`` (the model quantizes it itself). Outputs likewise from
  the ``QuantizeLinear`` (integer output) or ``DequantizeLinear`` (float output) that produces them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import MissingDependencyError, ModelFormatError

__all__ = ["MODEL_FORMATS", "ModelInfo", "TensorSpec", "inspect_model"]

#: File formats inspect_model reads.
MODEL_FORMATS = ("onnx", "tflite")

#: Operators looked through when finding what computes an output (they do not change what the values mean).
_PASS_THROUGH_OPS = {"quantizelinear", "dequantizelinear", "quantize", "dequantize", "reshape", "flatten", "squeeze",
                     "unsqueeze", "identity"}
_PROBABILITY_OPS = {"softmax", "logistic", "sigmoid", "qlinearsoftmax", "qlinearsigmoid"}  # + QOperator forms

#: QLinear* operators: {operand input index: (scale index, zero-point index)}, and the output's (scale, zero point)
#: input indices (ONNX QLinearConv / QLinearMatMul; onnxruntime's com.microsoft QLinearAdd / QLinearMul /
#: QLinearAveragePool / QLinearGlobalAveragePool / QLinearSigmoid / QLinearLeakyRelu).
_QLINEAR_OPS: dict[str, tuple[dict[int, tuple[int, int]], tuple[int, int] | None]] = {
    "QLinearConv": ({0: (1, 2), 3: (4, 5)}, (6, 7)),
    "QLinearMatMul": ({0: (1, 2), 3: (4, 5)}, (6, 7)),
    "QLinearAdd": ({0: (1, 2), 3: (4, 5)}, (6, 7)),
    "QLinearMul": ({0: (1, 2), 3: (4, 5)}, (6, 7)),
    "QLinearAveragePool": ({0: (1, 2)}, (3, 4)),
    "QLinearGlobalAveragePool": ({0: (1, 2)}, (3, 4)),
    "QLinearSigmoid": ({0: (1, 2)}, (3, 4)),
    "QLinearLeakyRelu": ({0: (1, 2)}, (3, 4)),
}

_INT_DTYPES = ("int2", "uint2", "int4", "uint4", "int8", "uint8", "int16", "uint16", "int32", "uint32")


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a model.

    Attributes:
        name: the tensor's name in the model.
        shape: extents; ``None`` (TFLite -1 / unknown ONNX dim) or a string (ONNX symbolic dim) where dynamic.
        dtype: the element type the runtime takes or returns ("float32", "uint8", "int8", ...).
        scale: quantization scale(s), float32 array of shape ``()`` (per-tensor) or ``(D,)`` (per-axis);
            ``None`` when the tensor carries no quantization.
        zero_point: zero point(s), int64 array of the same shape as ``scale`` (``None`` when not quantized).
        axis: the quantized axis for per-axis parameters, else ``None``.
        qdtype: the integer type of the quantized values ("uint8", "int8", ...), else ``None``.
        io: ``"integer"`` when the runtime exchanges quantized integers at this tensor, ``"float"`` when it
            exchanges floats (quantization, if any, happens inside the model); ``"constant"`` for stored weights
            (:attr:`ModelInfo.weights`).
        source: where the parameters were read: ``"tflite"`` (tensor params), ``"DequantizeLinear"``,
            ``"QuantizeLinear"`` or ``"none"``.
    """

    name: str
    shape: tuple[int | str | None, ...]
    dtype: str
    scale: np.ndarray | None = field(default=None, repr=False, compare=False)
    zero_point: np.ndarray | None = field(default=None, repr=False, compare=False)
    axis: int | None = None
    qdtype: str | None = None
    io: str = "float"
    source: str = "none"
    block_size: int | None = None

    def __eq__(self, other: object) -> bool:
        # the generated __eq__ would skip scale / zero_point (arrays are not comparable with ==): compare them too
        if not isinstance(other, TensorSpec):
            return NotImplemented
        same = (self.name, self.shape, self.dtype, self.axis, self.qdtype, self.io, self.source, self.block_size) == (
            other.name, other.shape, other.dtype, other.axis, other.qdtype, other.io, other.source, other.block_size)
        return same and all((a is None and b is None) or (a is not None and b is not None and a.shape == b.shape
                                                          and np.array_equal(a, b))
                            for a, b in ((self.scale, other.scale), (self.zero_point, other.zero_point)))

    def __repr__(self) -> str:
        q = "" if self.scale is None else f", {self.describe_quant()}"
        return f"TensorSpec({self.name!r}, shape={list(self.shape)}, dtype={self.dtype!r}, io={self.io!r}{q})"

    @property
    def quantized(self) -> bool:
        """True when the tensor carries quantization parameters."""
        return self.scale is not None

    @property
    def per_axis(self) -> bool:
        """True for per-axis (per-channel) parameters."""
        return self.axis is not None

    @property
    def qparams(self) -> tuple[float, int] | None:
        """``(scale, zero_point)`` as Python numbers for per-tensor parameters, else ``None``."""
        if self.scale is None or self.axis is not None or self.zero_point is None:
            return None
        return float(self.scale.reshape(-1)[0]), int(self.zero_point.reshape(-1)[0])

    def static_shape(self, batch: int = 1) -> tuple[int, ...] | None:
        """The shape with a dynamic leading (batch) dimension set to ``batch``; ``None`` if other dims are dynamic."""
        dims = list(self.shape)
        if dims and not isinstance(dims[0], int):
            dims[0] = batch
        if any(not isinstance(d, int) or d < 0 for d in dims):
            return None
        return tuple(int(d) for d in dims)

    def describe_quant(self) -> str:
        """A short human-readable description of the quantization (for tables)."""
        if self.scale is None:
            return "-"
        s = self.scale.reshape(-1)
        z = self.zero_point.reshape(-1) if self.zero_point is not None else np.zeros(1, np.int64)
        where = {"integer": "I/O", "constant": "stored"}.get(self.io, "in-graph")
        if self.axis is None:
            return f"{self.qdtype} {where} scale={float(s[0]):.6g} zp={int(z[0])}"
        return (f"{self.qdtype} {where} per-axis axis={self.axis} ({s.size} scales "
                f"{float(s.min()):.3g}..{float(s.max()):.3g}, zp {int(z.min())}..{int(z.max())})")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable description (plain Python numbers, no NumPy scalars)."""
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "quantized": self.quantized,
            "scale": None if self.scale is None else [float(v) for v in self.scale.reshape(-1)],
            "zero_point": None if self.zero_point is None else [int(v) for v in self.zero_point.reshape(-1)],
            "axis": self.axis,
            "qdtype": self.qdtype,
            "io": self.io,
            "source": self.source,
            "block_size": self.block_size,
        }


@dataclass(frozen=True)
class ModelInfo:
    """The inputs and outputs of a model file (see :func:`inspect_model`)."""

    path: str
    format: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    operators: list[str] = field(default_factory=list, repr=False)
    producer: str = ""
    metadata: dict[str, str] = field(default_factory=dict, repr=False)
    weights: list[TensorSpec] = field(default_factory=list, repr=False)
    #: Per output, the operator that computes it, looking through (de)quantize / reshape / identity operators
    #: (e.g. "Softmax", "SOFTMAX", "Sigmoid", "LOGISTIC"); "" when unknown.
    output_ops: list[str] = field(default_factory=list, repr=False)

    @property
    def outputs_are_probabilities(self) -> list[bool]:
        """Per output: computed by a softmax or sigmoid (so a decoder must not apply one again)."""
        return [op.lower() in _PROBABILITY_OPS for op in self.output_ops]

    @property
    def labels(self) -> list[str] | None:
        """Class names stored in the model's metadata, else ``None``.

        Read from the first present key of ``names`` (Ultralytics: a dict literal ``{0: 'person', ...}``), ``labels``,
        ``classes``, ``class_names`` (a Python / JSON list or dict, else one name per line).
        """
        key = next((k for k in ("names", "labels", "classes", "class_names") if self.metadata.get(k)), None)
        if key is None:
            return None
        raw = self.metadata[key]
        import ast
        import json

        try:
            names = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            try:
                names = json.loads(raw)
            except ValueError:
                names = [ln.strip() for ln in raw.splitlines() if ln.strip()] if "\n" in raw.strip() else None
        if isinstance(names, dict) and all(isinstance(k, str) and k.isdigit() for k in names):
            names = {int(k): v for k, v in names.items()}  # JSON object keys are strings
        if isinstance(names, dict) and all(isinstance(k, int) for k in names):
            return [str(names[k]) for k in sorted(names)]
        if isinstance(names, (list, tuple)):
            return [str(n) for n in names]
        return None

    @property
    def quantized(self) -> bool:
        """True when the model holds quantized tensors at its boundary or quantize/dequantize operators inside."""
        # integer operators too: quantize_dynamic graphs (DynamicQuantizeLinear, MatMulInteger, ConvInteger) carry
        # no quantization at their float boundary
        q_ops = {"QuantizeLinear", "DequantizeLinear", "QUANTIZE", "DEQUANTIZE", "DynamicQuantizeLinear",
                 "MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", *_QLINEAR_OPS,
                 "QLinearSoftmax", "QLinearConcat", "QLinearReduceMean", "QGemm", "QAttention"}
        return (any(t.quantized for t in (*self.inputs, *self.outputs, *self.weights))
                or any(o in q_ops for o in self.operators))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable description."""
        return {
            "path": self.path, "format": self.format, "producer": self.producer, "quantized": self.quantized,
            "operators": len(self.operators),
            "inputs": [t.to_dict() for t in self.inputs], "outputs": [t.to_dict() for t in self.outputs],
            "weights": [t.to_dict() for t in self.weights],
        }

    def table(self, *, weights: bool = False) -> str:
        """The inputs and outputs (and with ``weights`` the quantized stored tensors) as an aligned text table."""
        rows = [("", "name", "shape", "dtype", "quantization")]
        groups = [("input", self.inputs), ("output", self.outputs)] + ([("weight", self.weights)] if weights else [])
        for kind, specs in groups:
            for t in specs:
                shape = "[" + ", ".join("?" if d is None else str(d) for d in t.shape) + "]"
                rows.append((kind, t.name, shape, t.dtype, t.describe_quant()))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [f"{self.path}  ({self.format}, {len(self.operators)} operators"
                 + (f", {self.producer}" if self.producer else "") + ")"]
        for r in rows:
            lines.append("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4])
        return "\n".join(line.rstrip() for line in lines)


def _detect_format(path: Path, head: bytes) -> str:
    if len(head) >= 8 and head[4:8] == b"TFL3":
        return "tflite"
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix == ".tflite":
        raise ModelFormatError(f"{str(path)!r} is not a TFLite model: no 'TFL3' FlatBuffer identifier at bytes 4..8")
    raise ModelFormatError(f"cannot tell the format of {str(path)!r}: expected a .tflite FlatBuffer (identifier "
                           f"'TFL3') or an .onnx file; valid formats are: {', '.join(MODEL_FORMATS)}")


def inspect_model(path: str | os.PathLike[str]) -> ModelInfo:
    """Read the inputs and outputs of a ``.tflite`` or ``.onnx`` model, with their quantization parameters.

    Args:
        path: the model file. The format is recognised from the TFLite FlatBuffer identifier, else the suffix.

    Returns:
        A :class:`ModelInfo` whose ``inputs`` and ``outputs`` are :class:`TensorSpec` entries;
        ``info.table()`` renders them, ``info.to_dict()`` gives plain JSON-ready data.

    Raises:
        FileNotFoundError: no such file.
        ModelFormatError: the file is not a model of a known format, or is truncated / corrupt.
        MissingDependencyError: an ``.onnx`` file was given and the ``onnx`` package is not installed.

    Example:
        >>> import mlxquant as mq
        >>> mq.inspect_model("no_such_model.tflite")
        Traceback (most recent call last):
        ...
        FileNotFoundError: no such model file: 'no_such_model.tflite'

        With the ``onnx`` extra installed, the detector shipped for the demo::

            >>> import importlib.resources as ir
            >>> info = mq.inspect_model(ir.files("mlxquant") / "data" / "colour_detector.onnx")  # doctest: +SKIP
            >>> info.inputs[0].shape, info.outputs[0].shape  # doctest: +SKIP
            (('batch', 3, 256, 256), ('batch', 12, 472))
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such model file: {str(p)!r}")
    with open(p, "rb") as f:
        head = f.read(8)
    fmt = _detect_format(p, head)
    if fmt == "tflite":
        return _inspect_tflite(p)
    return _inspect_onnx(p)


# ---------------------------------------------------------------------------------------------------------- TFLite
def _inspect_tflite(p: Path) -> ModelInfo:
    from ._tflite import read_tflite

    m = read_tflite(p.read_bytes())

    def spec(i: int) -> TensorSpec:
        t = m.tensors[i]
        shape: tuple[int | str | None, ...] = t.shape
        # a constant's extents are its data's: LiteRT ignores a stored -1 signature on a tensor with a buffer
        if t.shape_signature is not None and len(t.shape_signature) == len(t.shape) and not t.is_constant:
            shape = tuple(None if s < 0 else int(s) for s in t.shape_signature)
        # TFLite marks "not quantized" by an absent or all-zero scale vector (the interpreter reports scale 0.0).
        if t.scale.size == 0 or not np.any(t.scale):
            return TensorSpec(t.name, shape, t.dtype)
        zp = t.zero_point if t.zero_point.size else np.zeros(t.scale.shape, np.int64)
        per_axis = t.scale.size > 1
        scale = t.scale.astype(np.float32) if per_axis else t.scale.astype(np.float32).reshape(())
        zp = zp.astype(np.int64) if per_axis else zp.astype(np.int64).reshape(-1)[:1].reshape(())
        is_int = t.dtype in _INT_DTYPES
        return TensorSpec(t.name, shape, t.dtype, scale, zp, axis=t.quantized_dimension if per_axis else None,
                          qdtype=t.dtype if is_int else None, io="integer" if is_int else "float", source="tflite")

    def real_op(t: int) -> str:
        seen = 0
        while t in m.producers and seen < 64:
            name, ins = m.producers[t]
            if name.lower() not in _PASS_THROUGH_OPS or not ins:
                return name
            t, seen = ins[0], seen + 1
        return ""

    weights = [spec(t.index) for t in m.tensors if t.is_constant and t.scale.size and np.any(t.scale)]
    weights = [TensorSpec(w.name, w.shape, w.dtype, w.scale, w.zero_point, w.axis, w.qdtype, "constant", w.source)
               for w in weights]
    return ModelInfo(str(p), "tflite", [spec(i) for i in m.inputs], [spec(i) for i in m.outputs],
                     operators=m.operators, producer=m.description, weights=weights,
                     output_ops=[real_op(i) for i in m.outputs], metadata=_tflite_associated_files(p))


def _tflite_associated_files(p: Path) -> dict[str, str]:
    """TFLite metadata packs associated files (labels.txt, ...) as a zip archive appended to the FlatBuffer; the
    first ``.txt`` file among them (one label per line) becomes ``names``. Nothing else is read from the archive."""
    import zipfile

    if not zipfile.is_zipfile(p):
        return {}
    try:
        with zipfile.ZipFile(p) as z:
            names = [n for n in z.namelist() if not n.endswith("/")]
            meta = {"associated_files": ",".join(names)}
            txt = sorted(n for n in names if n.lower().endswith(".txt"))
            if txt:
                lines = z.read(txt[0]).decode("utf-8", errors="replace").splitlines()
                labels = [ln.strip() for ln in lines if ln.strip()]
                if labels:
                    meta["names"] = repr(labels)
                    meta["labels_file"] = txt[0]
            return meta
    except (zipfile.BadZipFile, OSError, KeyError):
        return {}


# ------------------------------------------------------------------------------------------------------------ ONNX
#: Operators that only move or relabel values (looked through between a float graph input and its QuantizeLinear).
_LAYOUT_OPS = {"Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"}


def _quantize_after_layout_ops(name: str, consumers: dict[str, list[Any]]) -> Any:
    """The QuantizeLinear / DequantizeLinear reached from tensor ``name`` through a chain of single-consumer layout
    operators, or None."""
    for _ in range(16):
        users = consumers.get(name, [])
        if len(users) != 1 or not users[0].input or users[0].input[0] != name:
            return None
        node = users[0]
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            return node
        if node.op_type not in _LAYOUT_OPS or not node.output:
            return None
        name = node.output[0]
    return None


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise MissingDependencyError(
            "reading .onnx models needs the 'onnx' package; install it with: pip install 'mlxquant[onnx]'"
        ) from None
    return onnx


def _inspect_onnx(p: Path) -> ModelInfo:
    onnx = _import_onnx()
    from onnx import numpy_helper

    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as e:  # onnx raises DecodeError / google.protobuf errors of several kinds
        raise ModelFormatError(f"cannot read ONNX model {str(p)!r}: {e}") from None
    g = model.graph
    if not g.node and not g.input:
        raise ModelFormatError(f"{str(p)!r} holds no ONNX graph (empty or not an ONNX file)")
    consts: dict[str, np.ndarray] = {}
    for init in g.initializer:
        if init.data_location != onnx.TensorProto.EXTERNAL:
            consts[init.name] = numpy_helper.to_array(init)
    for node in g.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    consts[node.output[0]] = numpy_helper.to_array(a.t)
    init_names = {i.name for i in g.initializer}
    consumers: dict[str, list[Any]] = {}
    producer: dict[str, Any] = {}
    for node in g.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
        for name in node.output:
            producer[name] = node

    def dtype_of(vi: Any) -> str:
        elem = vi.type.tensor_type.elem_type
        try:
            return str(np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem)))
        except Exception:
            return onnx.TensorProto.DataType.Name(elem).lower()

    def shape_of(vi: Any) -> tuple[int | str | None, ...]:
        dims = []
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_value"):
                dims.append(int(d.dim_value))
            elif d.HasField("dim_param"):
                dims.append(str(d.dim_param))
            else:
                dims.append(None)
        return tuple(dims)

    def qparams(node: Any, int_tensor: str, at: tuple[int, int] = (1, 2), default_axis: int = 1
                ) -> tuple[np.ndarray, np.ndarray, int | None, str, int | None]:
        """(scale, zero_point, axis, integer dtype, block_size) of a QuantizeLinear/DequantizeLinear node (or of the
        operand of a QLinear* node whose scale and zero point are inputs ``at``; such operands have no ``axis``
        attribute, their per-axis dimension is ``default_axis``)."""
        si, zi = at
        if len(node.input) <= si or node.input[si] not in consts:
            raise ModelFormatError(f"{node.op_type} node {node.name!r}: its scale {node.input[si:si + 1]} is not a "
                                   "constant; mlxquant reads only constant quantization parameters")
        scale = np.asarray(consts[node.input[si]], np.float32)
        zp_name = node.input[zi] if len(node.input) > zi and node.input[zi] else ""
        if zp_name and zp_name not in consts:
            raise ModelFormatError(f"{node.op_type} node {node.name!r}: zero point {zp_name!r} is not a constant")
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if zp_name:
            zp_arr = consts[zp_name]
            qdtype = str(zp_arr.dtype)
            zp = np.asarray(zp_arr, np.int64)
        else:
            # ONNX: without a zero point, the default is 0 of type uint8 (or output_dtype, opset 21+)
            qdtype = "uint8"
            if attrs.get("output_dtype"):
                qdtype = str(np.dtype(onnx.helper.tensor_dtype_to_np_dtype(attrs["output_dtype"])))
            zp = np.zeros(scale.shape, np.int64)
        if int_tensor:
            qdtype = int_tensor
        block = int(attrs["block_size"]) if attrs.get("block_size") else None
        axis: int | None = None
        if scale.ndim >= 1 and (scale.size > 1 or block):
            # ONNX Q/DQ default axis is 1; QLinear* operands carry no axis attribute (default_axis)
            axis = int(attrs.get("axis", default_axis)) if node.op_type in ("QuantizeLinear", "DequantizeLinear") \
                else default_axis
        else:
            scale, zp = scale.reshape(()), zp.reshape(())
        return scale, zp, axis, qdtype, block

    graph_inputs = [vi for vi in g.input if vi.name not in init_names]
    elem_dtypes = {vi.name: dtype_of(vi) for vi in (*g.input, *g.value_info, *g.output)}
    inputs: list[TensorSpec] = []
    for vi in graph_inputs:
        dtype, shape = dtype_of(vi), shape_of(vi)
        spec = TensorSpec(vi.name, shape, dtype)
        for node in consumers.get(vi.name, []):
            if node.op_type == "DequantizeLinear" and node.input[0] == vi.name and dtype in _INT_DTYPES:
                s, z, ax, qd, blk = qparams(node, dtype)
                spec = TensorSpec(vi.name, shape, dtype, s, z, ax, qd, "integer", "DequantizeLinear", blk)
                break
            if node.op_type == "QuantizeLinear" and node.input[0] == vi.name:
                s, z, ax, qd, blk = qparams(node, "")
                spec = TensorSpec(vi.name, shape, dtype, s, z, ax, qd, "float", "QuantizeLinear", blk)
                break
            operands = _QLINEAR_OPS.get(node.op_type, ({}, None))[0]
            pos = [k for k, name in enumerate(node.input) if name == vi.name and k in operands]
            if pos and dtype in _INT_DTYPES:  # an integer input read directly by a QLinear* operator
                s, z, ax, qd, blk = qparams(node, dtype, operands[pos[0]])
                spec = TensorSpec(vi.name, shape, dtype, s, z, ax, qd, "integer", node.op_type, blk)
                break
        if spec.scale is None and dtype.startswith(("float", "bfloat")):
            # an NHWC float input that the model transposes / reshapes before its first QuantizeLinear (quantize_static
            # on a graph starting with Transpose): those operators move values without changing them, so the
            # QuantizeLinear after them quantizes the input's own values
            q = _quantize_after_layout_ops(vi.name, consumers)
            if q is not None and q.op_type == "QuantizeLinear":
                s, z, ax, qd, blk = qparams(q, "")
                if ax is None:  # a per-axis axis would refer to the transposed tensor's dimensions
                    spec = TensorSpec(vi.name, shape, dtype, s, z, ax, qd, "float", "QuantizeLinear", blk)
        elif spec.scale is None and dtype in _INT_DTYPES:
            # an integer input reshaped / transposed before its DequantizeLinear: the caller still feeds codes
            q = _quantize_after_layout_ops(vi.name, consumers)
            if q is not None and q.op_type == "DequantizeLinear":
                s, z, ax, qd, blk = qparams(q, dtype)
                if ax is None:
                    spec = TensorSpec(vi.name, shape, dtype, s, z, ax, qd, "integer", "DequantizeLinear", blk)
        inputs.append(spec)
    outputs: list[TensorSpec] = []
    for vi in g.output:
        dtype, shape = dtype_of(vi), shape_of(vi)
        spec = TensorSpec(vi.name, shape, dtype)
        node = producer.get(vi.name)
        moved = False
        for _ in range(16):
            # look back through operators that only move values (e.g. QLinear* → Reshape → output, DequantizeLinear
            # → Identity → output): the parameters of the Q/DQ / QLinear* node before them still describe the output
            if node is None or node.op_type not in _LAYOUT_OPS or not node.input:
                break
            node, moved = producer.get(node.input[0]), True
        if node is not None and moved and node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            attrs = {a.name for a in node.attribute}
            if len(node.input) > 1 and node.input[1] in consts and (consts[node.input[1]].size > 1 or
                                                                      "block_size" in attrs):
                node = None  # per-axis: its axis refers to the tensor before the layout operators
        if node is not None and node.op_type == "QuantizeLinear":
            s, z, ax, qd, blk = qparams(node, dtype if dtype in _INT_DTYPES else "")
            spec = TensorSpec(vi.name, shape, dtype, s, z, ax, qd, "integer", "QuantizeLinear", blk)
        elif node is not None and _QLINEAR_OPS.get(node.op_type, ({}, None))[1] and dtype in _INT_DTYPES:
            s, z, ax, qd, blk = qparams(node, dtype, _QLINEAR_OPS[node.op_type][1])  # type: ignore[arg-type]
            spec = TensorSpec(vi.name, shape, dtype, s, z, ax, qd, "integer", node.op_type, blk)
        elif node is not None and node.op_type == "DequantizeLinear":
            src = node.input[0]
            qd = str(consts[src].dtype) if src in consts else ""
            if not qd and src in producer and producer[src].op_type == "QuantizeLinear":
                # the integer type is the producing QuantizeLinear's (its zero point's, or output_dtype opset 21+),
                # not DequantizeLinear's "no zero point means uint8" default
                qd = qparams(producer[src], "")[3]
            elif not qd and src in elem_dtypes and elem_dtypes[src] in _INT_DTYPES:
                qd = elem_dtypes[src]
            s, z, ax, qd2, blk = qparams(node, qd)
            spec = TensorSpec(vi.name, shape, dtype, s, z, ax, qd2, "float", "DequantizeLinear", blk)
        outputs.append(spec)
    prod = " ".join(x for x in (model.producer_name, model.producer_version) if x)
    weights = []
    for node in g.node:  # quantized constants: DequantizeLinear nodes whose data input is an initializer
        if node.op_type == "DequantizeLinear" and node.input[0] in consts and node.input[0] in init_names:
            q = consts[node.input[0]]
            s, z, ax, qd, blk = qparams(node, str(q.dtype))
            weights.append(TensorSpec(node.input[0], tuple(int(d) for d in q.shape), str(q.dtype), s, z, ax, qd,
                                      "constant", "DequantizeLinear", blk))
        # QOperator graphs (quantize_static QuantFormat.QOperator): integer initializers read directly by QLinear*
        # operators; per-channel weights are per output channel (QLinearConv w: axis 0) or per column (QLinearMatMul
        # b: the last axis)
        for k, (si, zi) in _QLINEAR_OPS.get(node.op_type, ({}, None))[0].items():
            name = node.input[k] if len(node.input) > k else ""
            if name in init_names and name in consts and str(consts[name].dtype) in _INT_DTYPES:
                q = consts[name]
                default_axis = 0 if node.op_type == "QLinearConv" else max(q.ndim - 1, 0)
                s, z, ax, qd, blk = qparams(node, str(q.dtype), (si, zi), default_axis)
                weights.append(TensorSpec(name, tuple(int(d) for d in q.shape), str(q.dtype), s, z, ax, qd,
                                          "constant", str(node.op_type), blk))
    def real_op(name: str) -> str:
        seen = 0
        while name in producer and seen < 64:
            node = producer[name]
            if node.op_type.lower() not in _PASS_THROUGH_OPS or not node.input:
                return str(node.op_type)
            name, seen = node.input[0], seen + 1
        return ""

    meta = {m.key: m.value for m in model.metadata_props}
    return ModelInfo(str(p), "onnx", inputs, outputs, operators=[n.op_type for n in g.node], producer=prod,
                     metadata=meta, weights=weights, output_ops=[real_op(vi.name) for vi in g.output])


"""A minimal, dependency-free reader for the parts of a ``.tflite`` FlatBuffer that mlxquant needs.

It reads the model's first subgraph: its tensors (name, shape, type, quantization parameters), its input and output
tensor indices, and the operator codes. Field numbers follow TensorFlow Lite's ``schema.fbs`` (schema version 3);
each table field ``k`` lives at vtable slot ``4 + 2·k``. Nothing is executed and no peer package is imported.

FlatBuffer layout used here (little-endian throughout): the file starts with a uint32 offset to the root table,
followed by the 4-byte identifier ``TFL3``. A table starts with an int32 ``soffset`` to its vtable
(vtable = table - soffset); the vtable holds uint16 ``[vtable_size, table_size, field offsets...]``; a field offset
of 0 means "absent, use the default". Offsets to sub-tables, vectors and strings are uint32 relative to the field's
own position; vectors and strings start with a uint32 element count.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from ._errors import ModelFormatError

__all__ = ["TFLITE_TYPES", "TFLiteModel", "TFLiteTensor", "read_tflite"]

#: TensorType enum of schema.fbs → NumPy-style dtype name.
TFLITE_TYPES: dict[int, str] = {
    0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool", 7: "int16",
    8: "complex64", 9: "int8", 10: "float64", 11: "complex128", 12: "uint64", 13: "resource", 14: "variant",
    15: "uint32", 16: "uint16", 17: "int4", 18: "bfloat16", 19: "int2", 20: "uint4", 21: "float8_e4m3fn",
    22: "float8_e5m2",
}

#: BuiltinOperator codes of the operators most often found next to a model's inputs and outputs (for display).
_BUILTIN_NAMES: dict[int, str] = {
    0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D", 6: "DEQUANTIZE",
    9: "FULLY_CONNECTED", 14: "LOGISTIC", 17: "MAX_POOL_2D", 18: "MUL", 19: "RELU", 21: "RELU6", 22: "RESHAPE",
    23: "RESIZE_BILINEAR", 25: "SOFTMAX", 28: "TANH", 32: "CUSTOM", 34: "PAD", 39: "TRANSPOSE", 40: "MEAN",
    43: "SQUEEZE",
    41: "SUB", 45: "STRIDED_SLICE", 49: "SPLIT", 114: "QUANTIZE",
}


class _Buf:
    """Bounds-checked little-endian reads from the model bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.n = len(data)

    def _unpack(self, fmt: str, pos: int) -> int | float:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > self.n:
            raise ModelFormatError(f"truncated or corrupt .tflite file: read of {size} bytes at offset {pos} "
                                   f"past the end ({self.n} bytes)")
        return struct.unpack_from(fmt, self.data, pos)[0]

    def u8(self, pos: int) -> int:
        return int(self._unpack("<B", pos))

    def i8(self, pos: int) -> int:
        return int(self._unpack("<b", pos))

    def u16(self, pos: int) -> int:
        return int(self._unpack("<H", pos))

    def i32(self, pos: int) -> int:
        return int(self._unpack("<i", pos))

    def u32(self, pos: int) -> int:
        return int(self._unpack("<I", pos))

    def u64(self, pos: int) -> int:
        return int(self._unpack("<Q", pos))

    def field(self, table: int, k: int) -> int:
        """Absolute position of field ``k`` of the table at ``table``, or 0 when absent."""
        vtable = table - self.i32(table)
        vsize = self.u16(vtable)
        slot = 4 + 2 * k
        if slot >= vsize:
            return 0
        off = self.u16(vtable + slot)
        return table + off if off else 0

    def deref(self, pos: int) -> int:
        return pos + self.u32(pos)

    def table(self, table: int, k: int) -> int:
        p = self.field(table, k)
        return self.deref(p) if p else 0

    def vector(self, table: int, k: int, itemsize: int = 1) -> tuple[int, int]:
        """(start of elements, length) of vector field ``k``; (0, 0) when absent."""
        p = self.field(table, k)
        if not p:
            return 0, 0
        v = self.deref(p)
        n = self.u32(v)
        if v + 4 + n * itemsize > self.n:  # a corrupt length must not drive a loop over billions of elements
            raise ModelFormatError(f"truncated or corrupt .tflite file: vector of {n} elements at {v} runs past "
                                   f"the end ({self.n} bytes)")
        return v + 4, n

    def array(self, table: int, k: int, dtype: str) -> np.ndarray:
        start, n = self.vector(table, k)
        dt = np.dtype(dtype).newbyteorder("<")
        if n == 0:
            return np.zeros(0, dtype=dtype)
        end = start + n * dt.itemsize
        if end > self.n:
            raise ModelFormatError(f"truncated or corrupt .tflite file: vector of {n} elements at {start} runs past "
                                   f"the end ({self.n} bytes)")
        return np.frombuffer(self.data, dtype=dt, count=n, offset=start).astype(dtype)

    def string(self, table: int, k: int) -> str:
        start, n = self.vector(table, k)
        if not start:
            return ""
        if start + n > self.n:
            raise ModelFormatError("truncated or corrupt .tflite file: string runs past the end")
        return self.data[start:start + n].decode("utf-8", errors="replace")

    def tables(self, table: int, k: int) -> list[int]:
        start, n = self.vector(table, k, 4)
        return [self.deref(start + 4 * i) for i in range(n)]

    def scalar(self, table: int, k: int, fmt: str, default: int) -> int:
        p = self.field(table, k)
        return int(self._unpack(fmt, p)) if p else default


@dataclass(frozen=True)
class TFLiteTensor:
    """One tensor of a TFLite subgraph, as stored in the file."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: np.ndarray = field(repr=False)
    zero_point: np.ndarray = field(repr=False)
    quantized_dimension: int = 0
    shape_signature: tuple[int, ...] | None = None
    buffer: int = 0
    is_constant: bool = False


@dataclass(frozen=True)
class TFLiteModel:
    """The first subgraph of a TFLite model: all tensors, the input/output indices and the operator names."""

    version: int
    tensors: list[TFLiteTensor]
    inputs: list[int]
    outputs: list[int]
    operators: list[str]
    description: str = ""
    #: tensor index → (operator name, input tensor indices) of the operator producing it
    producers: dict[int, tuple[str, list[int]]] = field(default_factory=dict)


def read_tflite(data: bytes) -> TFLiteModel:
    """Parse the bytes of a ``.tflite`` file (first subgraph only).

    Raises:
        ModelFormatError: the bytes are not a TFLite FlatBuffer or are truncated.
    """
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelFormatError(f"not a TFLite model: expected the FlatBuffer identifier 'TFL3' at bytes 4..8, "
                               f"got {bytes(data[4:8])!r}")
    b = _Buf(bytes(data))
    try:
        root = b.deref(0)
        version = b.scalar(root, 0, "<I", 0)
        opcodes = []
        for oc in b.tables(root, 1):
            # builtin_code (field 3, int32) superseded deprecated_builtin_code (field 0, int8) in schema v3a;
            # readers take the larger of the two (what tflite::GetBuiltinCode does).
            code = max(b.scalar(oc, 0, "<b", 0), b.scalar(oc, 3, "<i", 0))
            name = _BUILTIN_NAMES.get(code, f"BUILTIN_{code}")
            if code == 32:
                name = b.string(oc, 1) or "CUSTOM"
            opcodes.append(name)
        subgraphs = b.tables(root, 2)
        if not subgraphs:
            raise ModelFormatError("TFLite model has no subgraph")
        sg = subgraphs[0]
        # Buffer {data 0: [ubyte], offset 1: uint64, size 2: uint64}: data inline, or (offset > 1, size) outside the
        # FlatBuffer for models over 2 GB; buffer 0 is the empty sentinel
        constant_buffers = set()
        for k, buf in enumerate(b.tables(root, 4)):
            _, n_data = b.vector(buf, 0)
            if n_data > 0 or b.scalar(buf, 1, "<Q", 0) > 1:
                constant_buffers.add(k)
        tensors = []
        for i, t in enumerate(b.tables(sg, 0)):
            shape = tuple(int(v) for v in b.array(t, 0, "int32"))
            ttype = b.scalar(t, 1, "<b", 0)
            q = b.table(t, 4)
            if q:
                scale = b.array(q, 2, "float32")
                zp = b.array(q, 3, "int64")
                qdim = b.scalar(q, 6, "<i", 0)
            else:
                scale, zp, qdim = np.zeros(0, "float32"), np.zeros(0, "int64"), 0
            sig = b.array(t, 7, "int32")
            buffer = b.scalar(t, 2, "<I", 0)
            tensors.append(TFLiteTensor(
                index=i, name=b.string(t, 3), shape=shape, dtype=TFLITE_TYPES.get(ttype, f"type{ttype}"),
                scale=scale, zero_point=zp, quantized_dimension=qdim,
                shape_signature=tuple(int(v) for v in sig) if sig.size else None,
                buffer=buffer, is_constant=buffer in constant_buffers,
            ))
        inputs = [int(v) for v in b.array(sg, 1, "int32")]
        outputs = [int(v) for v in b.array(sg, 2, "int32")]
        ops = []
        producers: dict[int, tuple[str, list[int]]] = {}
        for op in b.tables(sg, 3):
            idx = b.scalar(op, 0, "<I", 0)
            name = opcodes[idx] if idx < len(opcodes) else f"opcode{idx}"
            ops.append(name)
            op_inputs = [int(v) for v in b.array(op, 1, "int32")]
            for t_out in b.array(op, 2, "int32"):
                producers[int(t_out)] = (name, op_inputs)
        description = b.string(root, 3)
    except (struct.error, IndexError, UnicodeDecodeError) as e:  # pragma: no cover - _Buf checks bounds first
        raise ModelFormatError(f"corrupt .tflite file: {e}") from None
    for i in inputs + outputs:
        if not 0 <= i < len(tensors):
            raise ModelFormatError(f"corrupt .tflite file: input/output tensor index {i} out of range "
                                   f"[0, {len(tensors)})")
    return TFLiteModel(version=version, tensors=tensors, inputs=inputs, outputs=outputs, operators=ops,
                       description=description, producers=producers)

"""Thin adapters over real inference runtimes: onnxruntime (``.onnx``) and LiteRT (``.tflite``).

Both are optional extras, imported only when a model is loaded; a missing one raises
:class:`~mlxquant.MissingDependencyError` naming the extra to install (``mlxquant[onnx]``, ``mlxquant[litert]``).
An adapter checks every feed against the model's own input spec (dtype and static extents) before the runtime sees
it, so a float image fed to a uint8 model fails with a message that says what to do instead of a runtime error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._checks import check_choice
from ._errors import InputTypeError, MissingDependencyError, ShapeError
from .models import ModelInfo, TensorSpec, inspect_model

__all__ = ["RUNTIMES", "LiteRTRuntime", "OnnxRuntime", "Runtime", "check_feed", "load_runtime"]

#: Valid ``runtime=`` choices.
RUNTIMES = ("auto", "onnxruntime", "litert")


def check_feed(spec: TensorSpec, x: Any) -> np.ndarray:
    """Check one input array against the model's input spec; return it as a C-contiguous NumPy array.

    A leading extent of 1 in the spec accepts any batch size (batch-1 models are run once per item).

    Raises:
        InputTypeError: wrong dtype (e.g. float data for a uint8 input, which would otherwise be cast or rejected
            by the runtime with a less helpful message).
        ShapeError: wrong rank or a static extent that differs.
    """
    if not isinstance(x, np.ndarray):
        from ._backend import to_numpy

        x = to_numpy(x)
    if str(x.dtype) != spec.dtype:
        hint = ""
        if spec.dtype in ("uint8", "int8", "int16") and x.dtype.kind == "f":
            q = spec.qparams
            hint = (f"; the model takes quantized {spec.dtype} values" + (
                f" (scale {q[0]:.6g}, zero point {q[1]}): quantize the float tensor first, e.g. "
                f"mq.quantize(x, {q[0]:.6g}, {q[1]}, dtype={spec.dtype!r})" if q else "")
                + ", or let mq.pipeline derive the preprocessing from the model")
        elif spec.dtype.startswith("float") and x.dtype.kind in "iu":
            hint = "; the model takes floats: convert (and normalize) the integer pixels first"
        raise InputTypeError(f"model input {spec.name!r} expects dtype {spec.dtype}, got {x.dtype}{hint}")
    dims = list(spec.shape)
    if dims and dims[0] == 1:
        dims[0] = None
    if len(x.shape) != len(dims) or any(
        isinstance(d, int) and d >= 0 and d != a for d, a in zip(dims, x.shape, strict=True)
    ):
        exp = "(" + ", ".join(str(d) if isinstance(d, int) and d >= 0 else "*" for d in spec.shape) + ")"
        raise ShapeError(f"model input {spec.name!r} has shape {tuple(x.shape)}, expected {exp}")
    return np.ascontiguousarray(x)


class Runtime:
    """Common interface: ``info`` (the model's :class:`ModelInfo`) and ``run(feeds) -> list of outputs``."""

    name = "runtime"

    def __init__(self, path: str | os.PathLike[str], info: ModelInfo | None = None) -> None:
        self.path = str(path)
        self.info = info if info is not None else inspect_model(path)

    @property
    def inputs(self) -> list[TensorSpec]:
        return self.info.inputs

    @property
    def outputs(self) -> list[TensorSpec]:
        return self.info.outputs

    def _feeds(self, feeds: Any) -> dict[str, np.ndarray]:
        if not isinstance(feeds, Mapping):
            if len(self.inputs) != 1:
                names = ", ".join(t.name for t in self.inputs)
                raise InputTypeError(f"the model has {len(self.inputs)} inputs ({names}); pass a dict name → array")
            feeds = {self.inputs[0].name: feeds}
        out = {}
        for spec in self.inputs:
            if spec.name not in feeds:
                raise InputTypeError(f"missing model input {spec.name!r}; the model's inputs are: "
                                     f"{', '.join(t.name for t in self.inputs)}")
            out[spec.name] = check_feed(spec, feeds[spec.name])
        extra = set(feeds) - set(out)
        if extra:
            raise InputTypeError(f"unknown model input(s) {sorted(extra)}; valid names are: {', '.join(out)}")
        return out

    def run(self, feeds: Any) -> list[np.ndarray]:
        """Run the model on ``feeds`` (an array for single-input models, or a dict name → array)."""
        feeds = self._feeds(feeds)
        batch = {a.shape[0] for a in feeds.values() if a.ndim}
        fixed = all(isinstance(t.shape[0], int) for t in self.inputs if t.shape)
        if fixed and len(batch) == 1 and all(t.shape and t.shape[0] == 1 for t in self.inputs) and batch != {1}:
            # a batch-1 model run on a batch: one call per item, results stacked (what a deployment would do)
            n = batch.pop()
            per = [self._run({k: v[i:i + 1] for k, v in feeds.items()}) for i in range(n)]
            return [np.concatenate([p[j] for p in per], axis=0) for j in range(len(per[0]))]
        return self._run(feeds)

    def _run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"


class OnnxRuntime(Runtime):
    """An onnxruntime ``InferenceSession`` on the CPU execution provider."""

    name = "onnxruntime"

    def __init__(self, path: str | os.PathLike[str], *, threads: int | None = None,
                 providers: Sequence[str] = ("CPUExecutionProvider",), info: ModelInfo | None = None) -> None:
        super().__init__(path, info)
        try:
            import onnxruntime as ort
        except ImportError:
            raise MissingDependencyError(
                "running .onnx models needs onnxruntime; install it with: pip install 'mlxquant[onnx]'"
            ) from None
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # errors only: ORT warns about unused initializers of quantized models
        if threads:
            opts.intra_op_num_threads = int(threads)
        self.session = ort.InferenceSession(self.path, sess_options=opts, providers=list(providers))
        self._out_names = [o.name for o in self.session.get_outputs()]

    def _run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(o) for o in self.session.run(self._out_names, feeds)]


class LiteRTRuntime(Runtime):
    """A LiteRT (TensorFlow Lite) ``Interpreter`` (``ai_edge_litert``)."""

    name = "litert"

    def __init__(self, path: str | os.PathLike[str], *, threads: int | None = None,
                 info: ModelInfo | None = None) -> None:
        super().__init__(path, info)
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise MissingDependencyError(
                "running .tflite models needs LiteRT; install it with: pip install 'mlxquant[litert]'"
            ) from None
        self.interpreter = Interpreter(model_path=self.path, num_threads=threads)
        self.interpreter.allocate_tensors()
        self._in = {d["name"]: d["index"] for d in self.interpreter.get_input_details()}
        self._shapes = {d["name"]: tuple(int(v) for v in d["shape"]) for d in self.interpreter.get_input_details()}
        self._out = [d["index"] for d in self.interpreter.get_output_details()]

    def _run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        # dynamic extents (shape_signature -1, e.g. the batch): LiteRT allocates them as 1 and refuses any other
        # extent until the input is resized; check_feed already checked the static extents
        changed = {n: a.shape for n, a in feeds.items() if tuple(a.shape) != self._shapes[n]}
        if changed:
            for name, shape in changed.items():
                self.interpreter.resize_tensor_input(self._in[name], list(shape), strict=True)
                self._shapes[name] = tuple(shape)
            self.interpreter.allocate_tensors()
        for name, arr in feeds.items():
            self.interpreter.set_tensor(self._in[name], arr)
        self.interpreter.invoke()
        return [np.array(self.interpreter.get_tensor(i)) for i in self._out]  # copy: the buffer is reused


def load_runtime(path: str | os.PathLike[str], runtime: str = "auto", *, threads: int | None = None) -> Runtime:
    """Open a model with a real runtime.

    Args:
        path: a ``.onnx`` or ``.tflite`` model.
        runtime: ``"auto"`` (by the model's format), ``"onnxruntime"`` or ``"litert"``.
        threads: intra-op threads (``None``: the runtime's default).

    Returns:
        A :class:`Runtime` with ``.info`` (inputs/outputs with quantization) and ``.run(feeds)``.

    Raises:
        InvalidArgumentError: unknown ``runtime``, or a runtime that cannot read the model's format.
        MissingDependencyError: the runtime's package is not installed (the message names the extra).
        FileNotFoundError, ModelFormatError: see :func:`mlxquant.inspect_model`.
    """
    check_choice("runtime", runtime, RUNTIMES)
    info = inspect_model(path)
    want = {"onnx": "onnxruntime", "tflite": "litert"}[info.format]
    if runtime == "auto":
        runtime = want
    if runtime != want:
        from ._errors import InvalidArgumentError

        raise InvalidArgumentError(f"runtime {runtime!r} cannot run a {info.format} model "
                                   f"({Path(path).name}); use runtime={want!r} or 'auto'")
    if runtime == "onnxruntime":
        return OnnxRuntime(path, threads=threads, info=info)
    return LiteRTRuntime(path, threads=threads, info=info)


def ort_quantize_static(float_model: str | os.PathLike[str], out_path: str | os.PathLike[str],
                        calibration: Sequence[np.ndarray] | np.ndarray, *, per_channel: bool = True,
                        nodes: Sequence[str] | None = None, op_types: Sequence[str] | None = None,
                        exclude: Sequence[str] = ()) -> Path:
    """Quantize a float ONNX model with onnxruntime's own ``quantize_static`` (QDQ format, int8, MinMax).

    Activations and weights are int8 (weights symmetric, per output channel with ``per_channel``); the model keeps
    float inputs and outputs (``QuantizeLinear``/``DequantizeLinear`` at the boundary, which
    :func:`mlxquant.inspect_model` reports as ``io="float"``).

    Args:
        float_model: the float ``.onnx`` model (single input).
        out_path: where to write the quantized model (written to a temporary sibling, then renamed).
        calibration: a batch ``[N, ...]`` or a sequence of arrays for the model's input; each item is fed as a batch
            of one to the calibrator.
        per_channel: per-output-channel weight scales.
        nodes: quantize only these node names (``nodes_to_quantize``).
        op_types: quantize only these operator types (``op_types_to_quantize``).
        exclude: never quantize these node names.

    Returns:
        ``Path(out_path)``.

    Raises:
        MissingDependencyError: onnx / onnxruntime are not installed (``pip install 'mlxquant[onnx]'``).
    """
    try:
        import onnx
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    except ImportError:
        raise MissingDependencyError(
            "quantizing ONNX models needs onnx and onnxruntime; install them with: pip install 'mlxquant[onnx]'"
        ) from None
    from ._io import atomic_path

    graph = onnx.load(str(float_model), load_external_data=False).graph
    inits = {i.name for i in graph.initializer}
    # the first real input: IR < 4 models also list every initializer among the graph inputs
    graph_input = next(vi for vi in graph.input if vi.name not in inits)
    name, rank = graph_input.name, len(graph_input.type.tensor_type.shape.dim)
    items = [np.asarray(c) for c in calibration]
    feeds = [{name: c if c.ndim == rank else c[None]} for c in items]  # one image per calibration batch

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    import logging

    out = Path(out_path)
    previous = logging.root.manager.disable
    # onnxruntime's quantizer logs "Please consider pre-processing before quantization" on the root logger at
    # WARNING level on every call; it is advice for large models, not a problem of this call: silenced here only
    logging.disable(logging.WARNING)
    try:
        with atomic_path(out) as tmp:
            quantize_static(str(float_model), str(tmp), _Reader(), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=per_channel,
                            nodes_to_quantize=list(nodes) if nodes else None,
                            op_types_to_quantize=list(op_types) if op_types else None,
                            nodes_to_exclude=list(exclude))
    finally:
        logging.disable(previous)
    return out

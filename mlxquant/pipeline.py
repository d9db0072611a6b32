"""Pipelines over real runtimes: image(s) in, typed results in original-image coordinates out.

``Classifier``, ``Detector`` and ``Segmenter`` open a ``.onnx`` or ``.tflite`` model with a real runtime
(:mod:`mlxquant.runtimes`), derive the preprocessing from the model's own input spec (size, layout, dtype, scale,
zero point — :func:`mlxquant.inspect_model`) and the decoding from its outputs, then run
``mq.vision.preprocess`` → runtime → ``mq.decode.*`` → map back through each image's transform.

What is derived, in order of precedence (later wins): the vision ``preset`` (if given) → the task's defaults
(detection letterboxes; classification and segmentation resize) → **the model's input spec** (size from static
extents, ``layout`` NCHW/NHWC from where the 1- or 3-channel axis is, ``dtype``, and for an integer input
``quant=(scale, zero_point, dtype)``) → the caller's ``preprocess={...}`` overrides. Float models are fed
[0, 1] RGB unless a preset or ``preprocess={"normalization": ...}`` says otherwise — mlxquant cannot read a float
model's normalization from the file, so say it when it is not [0, 1]. A quantized integer input's parameters do tell
it (:func:`input_normalization`: [0, 1], [0, 255] or [-1, 1]); other ranges raise instead of guessing.

Integer outputs are dequantized with their own parameters (per-tensor through ``decode``'s ``quant=``, which also
runs its diagnostics; per-axis through :func:`mlxquant.dequantize`). Class names come from ``decode={"labels": ...}``,
else from the model's metadata (Ultralytics-style ``names``), else the decoder's default.

Backends: preprocessing runs on NumPy, or on MLX with ``preprocess={"backend": "mlx"}``; the runtimes take and return
NumPy arrays (an MLX batch is converted at the runtime boundary), so results hold NumPy arrays either way.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from ._errors import InvalidArgumentError, ShapeError
from .models import ModelInfo, TensorSpec
from .runtimes import Runtime, load_runtime

__all__ = [
    "NORMALIZATION_RANGES",
    "TASK_PRESET",
    "TASK_STRATEGY",
    "Classifier",
    "Detector",
    "Pipeline",
    "Segmenter",
    "compare_outputs",
    "derive_preprocess",
    "input_layout",
    "input_normalization",
    "match_detections",
    "quantize_input",
]


def input_layout(spec: TensorSpec) -> tuple[str, tuple[int, int] | None]:
    """``(layout, (height, width))`` of an image input spec: NCHW when axis 1 holds 1 or 3 channels, else NHWC.

    Raises:
        ShapeError: the input is not a rank-4 image tensor, or its channel axis cannot be told.
    """
    shape = spec.shape
    if len(shape) != 4:
        raise ShapeError(f"model input {spec.name!r} has shape {list(shape)}, expected a rank-4 image batch "
                         "(N, C, H, W) or (N, H, W, C)")
    c1, c3 = shape[1], shape[3]
    if c1 in (1, 3) and c3 not in (1, 3):
        layout, hw = "nchw", (shape[2], shape[3])
    elif c3 in (1, 3) and c1 not in (1, 3):
        layout, hw = "nhwc", (shape[1], shape[2])
    elif c1 in (1, 3) and c3 in (1, 3):  # e.g. [1, 3, 3, 3]: ambiguous; NCHW (ONNX convention) only for ONNX
        layout, hw = "nchw", (shape[2], shape[3])
    else:
        raise ShapeError(f"model input {spec.name!r} has shape {list(shape)}: no axis of 1 or 3 channels at position "
                         "1 (NCHW) or 3 (NHWC); pass preprocess={'layout': ..., 'size': ...}")
    size = (int(hw[0]), int(hw[1])) if all(isinstance(d, int) and d > 0 for d in hw) else None
    return layout, size


#: Float input ranges a quantized image input can encode, and the normalization producing each (low, high):
#: [0, 1] → "scale" (x / 255), [0, 255] → "raw", [-1, 1] → "tensorflow" (x / 127.5 - 1).
NORMALIZATION_RANGES: dict[str, tuple[float, float]] = {"scale": (0.0, 1.0), "raw": (0.0, 255.0),
                                                        "tensorflow": (-1.0, 1.0)}
#: How close (as a fraction of the range's span) the quantized range's ends must be to match (int8 [-1, 127/128]
#: is 0.4 % short of 1 on a span of 2; 3 % leaves room for calibrated, not exact, ranges).
NORMALIZATION_TOLERANCE = 0.03

_QRANGE = {"uint8": (0, 255), "int8": (-128, 127), "uint16": (0, 65535), "int16": (-32768, 32767)}


def input_normalization(spec: TensorSpec) -> str | None:
    """The normalization a quantized integer image input encodes, read from its parameters, or ``None``.

    The float values the model sees span ``[(qmin - zp)·s, (qmax - zp)·s]``; the name of
    :data:`NORMALIZATION_RANGES` whose range matches both ends (within :data:`NORMALIZATION_TOLERANCE` of its span)
    is returned. Unquantized integer inputs take raw pixels (``"raw"``); float inputs give ``None`` (not knowable).

    Example:
        >>> import numpy as np
        >>> from mlxquant.models import TensorSpec
        >>> t = lambda s, z, dt="uint8": TensorSpec("x", (1, 8, 8, 3), dt, np.float32(s), np.int64(z), qdtype=dt,
        ...                                         io="integer")
        >>> input_normalization(t(1 / 255, 0)), input_normalization(t(1.0, 0)), input_normalization(t(1 / 128, 128))
        ('scale', 'raw', 'tensorflow')
        >>> input_normalization(t(1 / 255, -128, "int8")), input_normalization(t(0.02, 100)) is None
        ('scale', True)
    """
    if spec.dtype not in _QRANGE:
        return None
    if spec.scale is None:
        return "raw"  # an integer image input without quantization takes the pixel values themselves
    if spec.zero_point is None:
        return None
    qmin, qmax = _QRANGE[spec.dtype]
    names = set()
    # per-axis parameters: every channel must encode the same range (else None: no single normalization fits)
    for s, zp in zip(spec.scale.reshape(-1).tolist(), spec.zero_point.reshape(-1).tolist(), strict=True):
        lo, hi = (qmin - zp) * s, (qmax - zp) * s
        match = [name for name, (a, b) in NORMALIZATION_RANGES.items()
                 if max(abs(lo - a), abs(hi - b)) <= NORMALIZATION_TOLERANCE * (b - a)]
        names.add(match[0] if match else None)
    return names.pop() if len(names) == 1 else None


#: Resize strategy per task when no preset says otherwise.
TASK_STRATEGY = {"classify": "stretch", "detect": "letterbox", "segment": "stretch"}
#: The vision preset each task starts from when the caller names none (its fields not set below are kept: e.g. the
#: YOLO preset's grey 114 letterbox padding).
TASK_PRESET = {"classify": "onnx", "detect": "yolo", "segment": "onnx"}


def derive_preprocess(spec: TensorSpec, *, task: str = "classify", preset: str | None = None,
                      overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``mq.vision.preprocess`` keyword arguments for a model input (see the module docstring for the order).

    Args:
        spec: the model's image input (``inspect_model(path).inputs[0]``).
        task: ``"classify"``, ``"detect"`` (letterbox) or ``"segment"``.
        preset: a vision preset name; when given, its normalization and strategy are kept (not set here).
        overrides: the caller's options, applied last.

    Returns:
        The keyword arguments of ``mq.vision.preprocess``: ``preset`` (the caller's, else :data:`TASK_PRESET`),
        ``size``, ``layout``, ``dtype`` (and ``strategy``/``normalization`` without a preset, ``quant`` for integer
        inputs), plus the overrides.

    Raises:
        InvalidArgumentError: dynamic height/width without a ``size`` override; per-axis input quantization.
        ShapeError: the input is not a rank-4 image batch (and no layout/size override).

    Example:
        >>> from mlxquant.models import TensorSpec
        >>> import numpy as np
        >>> spec = TensorSpec("x", (1, 224, 224, 3), "uint8", np.float32(1 / 255), np.int64(0), qdtype="uint8",
        ...                   io="integer")
        >>> opts = derive_preprocess(spec, task="classify")
        >>> opts["size"], opts["layout"], opts["dtype"], opts["quant"][1:]
        ((224, 224), 'nhwc', 'uint8', (0, 'uint8'))
    """
    overrides = dict(overrides or {})
    from ._checks import check_choice

    check_choice("task", task, tuple(TASK_STRATEGY))
    opts: dict[str, Any] = {"preset": preset if preset is not None else TASK_PRESET[task]}
    if preset is None:
        opts["strategy"] = TASK_STRATEGY[task]
    if spec.dtype in _QRANGE and "normalization" not in overrides:
        # an integer input's own parameters say which floats it encodes: that beats a preset's normalization (a
        # "raw" preset with a 1/255 input scale would saturate every pixel)
        norm = input_normalization(spec)
        if norm is not None:
            opts["normalization"] = norm
        elif preset is None:
            s, zp = spec.qparams or (float("nan"), 0)
            if spec.per_axis:
                raise InvalidArgumentError(
                    f"model input {spec.name!r} ({spec.dtype}, per-axis scales {spec.scale.tolist()}, zero points "
                    f"{spec.zero_point.tolist()}): its channels do not all encode one of [0, 1], [0, 255], [-1, 1]; "
                    "pass preset=... or preprocess={'normalization': ...}")
            qmin, qmax = _QRANGE[spec.dtype]
            raise InvalidArgumentError(
                f"model input {spec.name!r} ({spec.dtype}, scale {s:.6g}, zero point {zp}) encodes floats in "
                f"[{(qmin - zp) * s:.4g}, {(qmax - zp) * s:.4g}], which is none of [0, 1], [0, 255], [-1, 1]; "
                "pass preset=... or preprocess={'normalization': ...} (e.g. 'imagenet')")
    elif preset is None:
        opts["normalization"] = "scale"  # [0, 1]; float models with other statistics need a preset or override
    if "layout" not in overrides or "size" not in overrides:
        layout, size = input_layout(spec)
        opts["layout"] = layout
        if size is not None:
            opts["size"] = size
        if spec.shape[1 if layout == "nchw" else 3] == 1:
            opts["color"] = "gray"  # a one-channel input takes luma (ITU-R 601-2, as Pillow's "L"), not RGB
    opts["dtype"] = spec.dtype
    if spec.io == "integer":
        if spec.per_axis or spec.dtype not in _VISION_QDTYPES:
            # mq.vision quantizes per tensor to uint8 / int8 only: the preprocessing stays float32 and
            # :func:`quantize_input` (the pipelines call it) quantizes it with the model's own parameters
            opts["dtype"] = "float32"
        else:
            scale, zp = spec.qparams  # type: ignore[misc]
            opts["quant"] = (scale, zp, spec.dtype)
    opts.update(overrides)
    if opts.get("size") is None:
        raise InvalidArgumentError(f"model input {spec.name!r} has dynamic height/width {list(spec.shape)}; "
                                   "pass preprocess={'size': (height, width)} (on the command line: --size H W)")
    return opts


#: Integer input types mq.vision.preprocess quantizes to itself (per tensor).
_VISION_QDTYPES = ("uint8", "int8")


def quantize_input(spec: TensorSpec, tensor: Any, options: Mapping[str, Any], model_format: str = "onnx") -> Any:
    """Quantize a float32 preprocessed batch for an integer input that ``mq.vision.preprocess`` cannot quantize
    itself (per-axis parameters, or int16 / uint16 inputs); other tensors are returned unchanged.

    Rounding follows the model's runtime: ``profile="tflite"`` (half away from zero) for ``.tflite`` models, ONNX
    QuantizeLinear's half-to-even otherwise; values are clamped to the integer type.
    """
    if spec.io != "integer" or spec.scale is None or "quant" in options or options.get("dtype") != "float32":
        return tensor
    if not spec.per_axis and spec.dtype in _VISION_QDTYPES:
        return tensor
    from .quant.primitives import quantize

    profile = "tflite" if model_format == "tflite" else "onnx"
    scale = spec.scale if spec.per_axis else spec.scale.reshape(())
    return quantize(tensor, scale, spec.zero_point, dtype=spec.dtype, axis=spec.axis, profile=profile)


def _one_or_many(images: Any) -> tuple[list[Any], bool]:
    """(list of images, whether a single image was given)."""
    if isinstance(images, (list, tuple)):
        return list(images), False
    if hasattr(images, "ndim") and hasattr(images, "shape") and images.ndim == 4:
        return [images[i] for i in range(images.shape[0])], False
    return [images], True


class Pipeline:
    """Shared machinery of :class:`Classifier`, :class:`Detector` and :class:`Segmenter`.

    Attributes:
        runtime: the :class:`~mlxquant.runtimes.Runtime` running the model.
        info: the model's :class:`~mlxquant.models.ModelInfo`.
        preprocess_options: the keyword arguments given to ``mq.vision.preprocess`` (derived + overrides).
        decode_options: the keyword arguments given to the decoder (derived + overrides).
        timings: seconds spent in ``preprocess``, ``inference`` and ``decode`` by the last call.
    """

    task = "classify"
    _task_decode: ClassVar[dict[str, Any]] = {}

    def __init__(self, model: str | os.PathLike[str], *, runtime: str = "auto", preset: str | None = None,
                 preprocess: Mapping[str, Any] | None = None, decode: Mapping[str, Any] | None = None,
                 threads: int | None = None) -> None:
        for name, d in (("preprocess", preprocess), ("decode", decode)):
            if d is not None and not isinstance(d, Mapping):
                raise InvalidArgumentError(f"{name} must be a dict of keyword overrides, got {type(d).__name__}")
        self.runtime: Runtime = load_runtime(model, runtime, threads=threads)
        self.info: ModelInfo = self.runtime.info
        if len(self.info.inputs) != 1:
            raise InvalidArgumentError(f"{type(self).__name__} needs a model with one image input; "
                                       f"{self.info.path} has {len(self.info.inputs)}")
        self.input = self.info.inputs[0]
        self.preset = preset
        self.preprocess_options = self._derive_preprocess(dict(preprocess or {}))
        self._check_decode_names(dict(decode or {}))
        self.decode_options = self._derive_decode(dict(decode or {}))
        self.timings: dict[str, float] = {}

    #: Names of the ``mq.decode`` functions whose keyword arguments ``decode={...}`` may set.
    _decoders: ClassVar[tuple[str, ...]] = ("classify",)

    def _check_decode_names(self, overrides: dict[str, Any]) -> None:
        """Unknown ``decode={...}`` names fail at construction (not as a TypeError on the first call)."""
        import inspect

        from . import decode as dec

        valid: list[str] = []
        for fn in self._decoders:
            for name, par in inspect.signature(getattr(dec, fn)).parameters.items():
                data = name in ("output", "outputs", "raw_boxes", "raw_scores")  # the model outputs themselves
                if par.kind in (par.KEYWORD_ONLY, par.POSITIONAL_OR_KEYWORD) and not data and name not in valid:
                    valid.append(name)
        bad = sorted(set(overrides) - set(valid))
        if bad:
            raise InvalidArgumentError(f"unknown decode option(s) {bad} for {type(self).__name__}; valid names are: "
                                       f"{', '.join(valid)}")

    # ------------------------------------------------------------------------------------------------ derivation
    def _derive_preprocess(self, overrides: dict[str, Any]) -> dict[str, Any]:
        return derive_preprocess(self.input, task=self.task, preset=self.preset, overrides=overrides)

    def _derive_decode(self, overrides: dict[str, Any]) -> dict[str, Any]:
        opts: dict[str, Any] = dict(self._task_decode)
        if "labels" not in overrides and self.info.labels is not None:
            opts["labels"] = self.info.labels
        opts.update(overrides)
        return opts

    # ------------------------------------------------------------------------------------------------ stages
    def preprocess(self, images: Any) -> Any:
        """``mq.vision.preprocess`` with the derived options: a ``Batch`` (``.tensor``, ``.transforms``)."""
        from . import vision

        batch = vision.preprocess(images, **self.preprocess_options)
        q = quantize_input(self.input, batch.tensor, self.preprocess_options, self.info.format)
        if q is not batch.tensor:
            import dataclasses

            batch = dataclasses.replace(batch, tensor=q)
        return batch

    def infer(self, tensor: Any) -> list[np.ndarray]:
        """Run the model on a preprocessed batch tensor; returns its outputs (NumPy)."""
        return self.runtime.run(tensor)

    def _float_output(self, spec: TensorSpec, y: np.ndarray) -> tuple[Any, Any]:
        """(array for the decoder, quant= argument): per-axis integer outputs are dequantized here."""
        if spec.io != "integer" or spec.scale is None:
            return y, None
        if spec.per_axis:
            from .quant.primitives import dequantize

            return dequantize(y, spec.scale, spec.zero_point, axis=spec.axis), None
        return y, spec.qparams

    def _dequantized(self, spec: TensorSpec, y: np.ndarray) -> Any:
        """A float32 output: integer I/O outputs dequantized with their own (per-tensor or per-axis) parameters."""
        if spec.io != "integer" or spec.scale is None:
            return y
        from .quant.primitives import dequantize

        return dequantize(y, spec.scale, spec.zero_point, axis=spec.axis)

    def decode(self, outputs: list[np.ndarray], transforms: Sequence[Any]) -> list[Any]:  # pragma: no cover
        raise NotImplementedError

    def __call__(self, images: Any) -> Any:
        """Run the whole pipeline on one image (path, PIL image, HWC array) or many (a list, or an NHWC batch).

        Returns:
            One result for one image, a list for many (results of ``mq.decode``, in original-image coordinates).
        """
        items, single = _one_or_many(images)
        if not items:
            return []
        t0 = time.perf_counter()
        batch = self.preprocess(items)
        t1 = time.perf_counter()
        outputs = self.infer(batch.tensor)
        t2 = time.perf_counter()
        results = self.decode(outputs, list(batch.transforms))
        t3 = time.perf_counter()
        self.timings = {"preprocess": t1 - t0, "inference": t2 - t1, "decode": t3 - t2}
        return results[0] if single else results

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.info.path!r}, runtime={self.runtime.name!r})"


class Classifier(Pipeline):
    """Image classification: results are ``mq.decode`` ``Classification`` objects (top-k, labels).

    When the model's output is computed by a softmax or sigmoid (read from the file, through any quantize /
    reshape operators), the decoder is told ``softmax=False``: the scores are the model's own probabilities.

    Example:
        >>> clf = mq.pipeline.Classifier("model.onnx", decode={"topk": 3})  # doctest: +SKIP
        >>> clf("cat.jpg").top()  # doctest: +SKIP
        (281, 'tabby', 0.62)
    """

    task = "classify"
    _task_decode: ClassVar[dict[str, Any]] = {"topk": 5}

    def _derive_decode(self, overrides: dict[str, Any]) -> dict[str, Any]:
        opts = super()._derive_decode(overrides)
        # a model whose output is computed by Softmax / Sigmoid already gives probabilities: never apply softmax again
        # (that flattens every score towards 1/C)
        if "softmax" not in overrides and self.info.outputs_are_probabilities[:1] == [True]:
            opts["softmax"] = False
        if "labels" not in opts:
            # no labels given or stored in the model: the decoder's ImageNet default fits only 1000 (+1 background)
            # classes; any other static class count gets class ids without names instead of a label-count error
            dims = self.info.outputs[0].shape[1:]  # [B, C] or [B, C, 1, 1]
            if dims and all(isinstance(d, int) for d in dims) and int(np.prod(dims)) not in (1000, 1001):
                opts["labels"] = None
        return opts

    def decode(self, outputs: list[np.ndarray], transforms: Sequence[Any]) -> list[Any]:
        from . import decode as dec

        y, quant = self._float_output(self.info.outputs[0], outputs[0])
        return list(dec.classify(y, quant=quant, **self.decode_options))


class Detector(Pipeline):
    """Object detection: ``Detections`` with boxes mapped back to each original image.

    Output heads: a model with one output is decoded as YOLO (``mq.decode.yolo``, format detected from the shape);
    a model with four outputs as ``TFLite_Detection_PostProcess`` (SSD: normalized yxyx boxes, classes, scores,
    count — ``mq.decode.tflite_detection_postprocess``, whose ``labels`` / ``label_offset`` / ``conf`` come from
    ``decode={...}``); a model with one rank-3 and one rank-4 output as YOLO-seg (detections + mask prototypes,
    ``[B, M, h, w]``, or ``[B, h, w, M]`` for NHWC models), whose masks are mapped back with the boxes; a model
    with two rank-3 outputs ``[B, N, 4]`` + ``[B, N, C]`` as a raw SSD head (``mq.decode.ssd``; pass
    ``decode={"anchors": mq.decode.ssd_anchors(...)}``, the anchors are not in the file).

    The input is letterboxed (the model's size, grey padding) and every image's boxes are mapped back through its
    own transform (``Detections.map_to_original``), so boxes are in original-image pixels.
    """

    task = "detect"
    _task_decode: ClassVar[dict[str, Any]] = {}
    _decoders: ClassVar[tuple[str, ...]] = ("yolo", "tflite_detection_postprocess", "ssd")
    #: Units of the model's box outputs.
    BOX_UNITS = ("pixels", "normalized")

    def __init__(self, model: str | os.PathLike[str], *, runtime: str = "auto", preset: str | None = None,
                 preprocess: Mapping[str, Any] | None = None, decode: Mapping[str, Any] | None = None,
                 threads: int | None = None, boxes: str = "pixels") -> None:
        """See :class:`Pipeline`; ``boxes="normalized"`` for models whose boxes are fractions of the input size
        (Ultralytics TFLite exports: xywh / imgsz, so that boxes and scores can share one int8 output scale)."""
        from ._checks import check_choice

        self.boxes = check_choice("boxes", boxes, self.BOX_UNITS)
        super().__init__(model, runtime=runtime, preset=preset, preprocess=preprocess, decode=decode,
                         threads=threads)
        self._check_shared_scale()

    def _ssd_outputs(self) -> tuple[int, int] | None:
        """(box encodings [B, N, 4], class scores [B, N, C]) output indices of a raw SSD head, else None."""
        outs = self.info.outputs
        if len(outs) != 2 or any(len(o.shape) != 3 for o in outs):
            return None
        four = [i for i, o in enumerate(outs) if o.shape[2] == 4]
        if len(four) != 1 or outs[0].shape[1] != outs[1].shape[1]:
            return None
        return four[0], 1 - four[0]

    def _seg_outputs(self) -> tuple[int, int, bool] | None:
        """(detection output, prototype output, prototypes NHWC) of a YOLO-seg model (one rank-3 and one rank-4
        output), else None."""
        outs = self.info.outputs
        if len(outs) != 2 or sorted(len(o.shape) for o in outs) != [3, 4]:
            return None
        det_i = 0 if len(outs[0].shape) == 3 else 1
        return det_i, 1 - det_i, input_layout(self.input)[0] == "nhwc"

    def _derive_decode(self, overrides: dict[str, Any]) -> dict[str, Any]:
        opts = super()._derive_decode(overrides)
        ssd = self._ssd_outputs()
        if ssd is not None:
            # raw SSD (box encodings + class scores): the anchors are not in the model file
            if "anchors" not in opts:
                raise InvalidArgumentError(
                    f"{self.info.path} has a raw SSD head (box encodings {list(self.info.outputs[ssd[0]].shape)}, "
                    f"scores {list(self.info.outputs[ssd[1]].shape)}): pass its anchors, e.g. "
                    "decode={'anchors': mq.decode.ssd_anchors(...)} ([N, 4] yc, xc, h, w normalized)")
            c = self.info.outputs[ssd[1]].shape[2]
            if "labels" not in opts and isinstance(c, int) and c != 91:
                opts["labels"] = None  # the decoder's COCO-91 default fits only 1 + 90 score columns
            return opts
        seg = self._seg_outputs()
        if len(self.info.outputs) != 1 and seg is None:
            return opts
        shape = self.info.outputs[0 if seg is None else seg[0]].shape
        if "labels" in opts or "nc" in opts or len(shape) != 3:
            return opts
        nm = 0
        if seg is not None:
            pshape = self.info.outputs[seg[1]].shape
            nm = pshape[3] if seg[2] else pshape[1]
            if not isinstance(nm, int):
                return opts
        # no labels given or stored in the model: the decoder's COCO-80 default fits only 80-class heads; a YOLOv8
        # [B, 4 + C (+ M mask coefficients), N] head of another static C is decoded with C classes, ids without names
        _, a, d = shape
        if isinstance(a, int) and isinstance(d, int):
            if a < d and a != 84 + nm:
                opts["labels"], opts["nc"] = None, a - 4 - nm
            elif a > d and d not in (6, 84 + nm, 85 + nm):
                opts["labels"] = None  # [B, N, 4+C] or [B, N, 5+C]: the decoder asks for nc / format
        return opts

    #: A single-output integer detector whose one scale leaves fewer levels than this in [0, 1] gets a warning.
    MIN_SCORE_LEVELS = 32

    def _check_shared_scale(self) -> None:
        """Warn when one integer output's scale is too coarse for scores in [0, 1] (boxes in pixels sharing it: the
        classic broken INT8 TFLite YOLO export that finds nothing). Read from the model file, before any run."""
        if len(self.info.outputs) != 1:
            return
        spec = self.info.outputs[0]
        if spec.io != "integer" or spec.qparams is None:
            return
        scale = spec.qparams[0]
        levels = int(1.0 / scale) + 1 if scale > 0 else 0
        if levels < self.MIN_SCORE_LEVELS:
            import warnings

            from .decode.diagnostics import DecodeWarning

            warnings.warn(
                f"{self.info.path}: output {spec.name!r} is {spec.dtype} with one scale {scale:.6g}, so scores in "
                f"[0, 1] can take only {levels} values: boxes in pixels and scores share this scale and the scores "
                "collapse. Export with normalized boxes (Ultralytics TFLite does; then pass boxes='normalized'), "
                "separate box and score outputs, or a float output", DecodeWarning, stacklevel=2)

    #: decode options understood by ``mq.decode.tflite_detection_postprocess`` (models with 4 outputs).
    _POSTPROCESS_OPTIONS = ("conf", "labels", "label_offset")

    def decode(self, outputs: list[np.ndarray], transforms: Sequence[Any]) -> list[Any]:
        from . import decode as dec

        if len(self.info.outputs) == 4:
            # TFLite_Detection_PostProcess-style heads (SSD): boxes [B, K, 4] normalized yxyx, classes, scores, count;
            # each output dequantized with its own parameters first
            floats = [self._dequantized(spec, y) for spec, y in zip(self.info.outputs, outputs, strict=True)]
            opts = {k: v for k, v in self.decode_options.items() if k in self._POSTPROCESS_OPTIONS}
            dets = dec.tflite_detection_postprocess(floats, input_size=tuple(self.preprocess_options["size"]), **opts)
            return [d.map_to_original(t) for d, t in zip(dets, transforms, strict=True)]
        ssd = self._ssd_outputs()
        if ssd is not None:
            import inspect

            (bi, si), size = ssd, tuple(self.preprocess_options["size"])
            rb, bq = self._float_output(self.info.outputs[bi], outputs[bi])
            rs, sq = self._float_output(self.info.outputs[si], outputs[si])
            names = inspect.signature(dec.ssd).parameters
            opts = {k: v for k, v in self.decode_options.items()
                    if k in names and k not in ("anchors", "quant", "scores_quant")}
            dets = dec.ssd(rb, rs, self.decode_options["anchors"], quant=bq, scores_quant=sq,
                           **{"input_size": size, **opts})
            return [d.map_to_original(t) for d, t in zip(dets, transforms, strict=True)]
        seg = self._seg_outputs()
        extra: dict[str, Any] = {}
        if seg is not None:
            # YOLO-seg: detections + mask prototypes ([B, M, h, w]; NHWC [B, h, w, M] for NHWC models, as Ultralytics'
            # TFLite export writes them), each dequantized with its own parameters
            det_i, proto_i, nhwc = seg
            pr, pq = self._float_output(self.info.outputs[proto_i], outputs[proto_i])
            if nhwc:
                pr = np.transpose(pr, (0, 3, 1, 2))
            extra = {"protos": pr, "protos_quant": pq, "input_size": tuple(self.preprocess_options["size"])}
            y, quant = self._float_output(self.info.outputs[det_i], outputs[det_i])
            if self.boxes == "normalized":
                # the decoder crops the masks with the boxes: they must be input pixels before decoding (scaling
                # afterwards, as below, is right for boxes alone but would crop the masks with fractions)
                from .quant.primitives import dequantize

                y = np.array(dequantize(y, *quant) if quant is not None else y, np.float32)
                quant = None
                h, w = self.preprocess_options["size"]
                gain = np.array([w, h, w, h], np.float32)
                fmt = self.decode_options.get("format", "auto")
                if fmt == "yolov8" or (fmt == "auto" and y.shape[1] < y.shape[2]):
                    y[:, :4, :] *= gain[:, None]  # [B, 4 + C + M, N]
                else:
                    y[:, :, :4] *= gain  # [B, N, 4 + C + M]
        else:
            y, quant = self._float_output(self.info.outputs[0], outputs[0])
        dets = dec.yolo(y, quant=quant, **{**extra, **self.decode_options})
        if len(dets) != len(transforms):
            raise ShapeError(f"decoder returned {len(dets)} results for {len(transforms)} images")
        if self.boxes == "normalized" and seg is None:
            # NMS is unchanged by scaling both axes (IoU is invariant), so boxes are scaled after decoding
            import dataclasses

            from ._backend import get_backend

            h, w = self.preprocess_options["size"]
            out = []
            for d in dets:
                b = get_backend(d.boxes)
                gain = b.asarray(np.array([w, h, w, h], np.float32))
                out.append(dataclasses.replace(d, boxes=d.boxes * gain))
            dets = out
        return [d.map_to_original(t) for d, t in zip(dets, transforms, strict=True)]


class Segmenter(Pipeline):
    """Semantic segmentation: ``Segmentation`` (class mask, confidence) resized to each original image."""

    task = "segment"
    _task_decode: ClassVar[dict[str, Any]] = {}
    _decoders: ClassVar[tuple[str, ...]] = ("segmentation",)

    def _derive_decode(self, overrides: dict[str, Any]) -> dict[str, Any]:
        opts = super()._derive_decode(overrides)
        out_spec = self.info.outputs[0]
        if "layout" not in opts and len(out_spec.shape) == 4:
            opts["layout"] = "nchw" if input_layout(self.input)[0] == "nchw" else "nhwc"
        if "kind" not in opts:
            if len(out_spec.shape) == 3:  # [B, H, W]: the model already took the argmax (class ids)
                opts["kind"] = "argmax"
            elif self.info.output_ops[:1] and self.info.output_ops[0].lower() in ("softmax", "qlinearsoftmax"):
                opts["kind"] = "probabilities"  # never softmax the model's own probabilities again
            elif len(out_spec.shape) == 4 and out_spec.shape[1 if opts["layout"] == "nchw" else 3] == 1:
                # one channel: a binary mask (foreground where the logit > 0); the argmax of one channel is always 0
                opts["kind"] = "sigmoid"
                # a model ending in Sigmoid gives p: decoded as its logit log(p / (1 - p)) (mask where p > 0.5)
                self._sigmoid_output = self.info.outputs_are_probabilities[:1] == [True]
            elif self.info.outputs_are_probabilities[:1] == [True]:
                opts["kind"] = "probabilities"  # independent per-class sigmoids: argmax of the model's own p
        return opts

    _sigmoid_output = False

    def decode(self, outputs: list[np.ndarray], transforms: Sequence[Any]) -> list[Any]:
        from . import decode as dec

        y, quant = self._float_output(self.info.outputs[0], outputs[0])
        if self._sigmoid_output and self.decode_options.get("kind") == "sigmoid":
            from .quant.primitives import dequantize

            p = np.asarray(dequantize(y, *quant) if quant is not None else y, np.float32)
            with np.errstate(divide="ignore"):
                y, quant = np.log(p) - np.log1p(-p), None  # logit; p = 0 / 1 give -inf / +inf (masks 0 / 1)
        opts = dict(self.decode_options)
        if quant is not None:
            opts["quant"] = quant
        size = tuple(self.preprocess_options["size"])
        res = []
        for i, t in enumerate(transforms):
            seg = dec.segmentation(y[i:i + 1], **opts)
            if isinstance(seg, (list, tuple)):
                seg = seg[0]
            res.append(_upsample_segmentation(seg, size).resize_to_original(t))
        return res


def _nearest_index(n_out: int, n_in: int) -> np.ndarray:
    # nearest neighbour with half-pixel centres: src = floor((dst + 0.5) · in / out), clamped (REFERENCE §9)
    return np.minimum(np.floor((np.arange(n_out) + 0.5) * n_in / n_out).astype(np.int64), n_in - 1)


def _upsample_segmentation(seg: Any, size: tuple[int, int]) -> Any:
    """A segmentation at the model's output resolution brought to the model's input size (nearest neighbour), so
    that the preprocessing transform maps it back to the original image."""
    from ._backend import to_numpy

    mask = to_numpy(seg.mask)
    if mask.shape[-2:] == size:
        return seg
    ys, xs = _nearest_index(size[0], mask.shape[-2]), _nearest_index(size[1], mask.shape[-1])
    conf = None if seg.confidence is None else to_numpy(seg.confidence)[..., ys[:, None], xs[None, :]]
    return type(seg)(mask[..., ys[:, None], xs[None, :]], conf, seg.labels, seg.num_classes)


# -------------------------------------------------------------------------------------------- comparisons
def compare_outputs(reference: Sequence[np.ndarray], test: Sequence[np.ndarray]) -> dict[str, float]:
    """SQNR (dB) and max |difference| of two runs' raw outputs (first output), e.g. float vs quantized model.

    Raises:
        InputTypeError: one output is integer and the other float (a quantized model's integer output must be
            dequantized with its own parameters first: comparing codes with floats gives a meaningless SQNR).
        ShapeError: the outputs differ in shape.
    """
    from ._backend import to_numpy
    from .metrics import sqnr

    r0, t0 = np.asarray(to_numpy(reference[0])), np.asarray(to_numpy(test[0]))
    if (r0.dtype.kind in "iu") != (t0.dtype.kind in "iu"):
        from ._errors import InputTypeError

        raise InputTypeError(f"cannot compare a {r0.dtype} output with a {t0.dtype} output: dequantize the integer one "
                             "with its own parameters first, e.g. mq.dequantize(y, *pipe.info.outputs[0].qparams)")
    r, t = r0.astype(np.float32), t0.astype(np.float32)
    if r.shape != t.shape:
        raise ShapeError(f"outputs differ in shape: {r.shape} vs {t.shape}")
    return {"sqnr_db": float(sqnr(r, t)), "max_abs_diff": float(np.max(np.abs(r - t))) if r.size else 0.0}


def match_detections(reference: Any, test: Any, iou_threshold: float = 0.5) -> dict[str, float]:
    """Greedy one-to-one matching of two ``Detections`` of the same image (same class, best IoU first).

    Returns:
        ``{"matched": k, "reference": n_ref, "test": n_test, "mean_iou": mean IoU of the matches (nan if none),
        "recall": k / n_ref (1.0 when both are empty)}``.
    """
    from ._backend import to_numpy

    rb, tb = to_numpy(reference.boxes).reshape(-1, 4), to_numpy(test.boxes).reshape(-1, 4)
    rc, tc = to_numpy(reference.class_ids).reshape(-1), to_numpy(test.class_ids).reshape(-1)
    ious = []
    used = np.zeros(len(tb), bool)
    for i in range(len(rb)):
        x1 = np.maximum(rb[i, 0], tb[:, 0])
        y1 = np.maximum(rb[i, 1], tb[:, 1])
        x2 = np.minimum(rb[i, 2], tb[:, 2])
        y2 = np.minimum(rb[i, 3], tb[:, 3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        area_r = (rb[i, 2] - rb[i, 0]) * (rb[i, 3] - rb[i, 1])
        area_t = (tb[:, 2] - tb[:, 0]) * (tb[:, 3] - tb[:, 1])
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = np.where(used | (tc != rc[i]), -1.0, inter / (area_r + area_t - inter))
        if len(iou) and np.nanmax(iou) >= iou_threshold:
            j = int(np.nanargmax(iou))
            used[j] = True
            ious.append(float(iou[j]))
    n_ref, n_test = len(rb), len(tb)
    return {"matched": len(ious), "reference": n_ref, "test": n_test,
            "mean_iou": float(np.mean(ious)) if ious else float("nan"),
            "recall": len(ious) / n_ref if n_ref else 1.0}

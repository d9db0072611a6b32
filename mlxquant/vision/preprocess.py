"""Batched preprocessing: images (paths, bytes, PIL, arrays of any sizes) → one model-ready tensor + transforms.

Decoding runs in a thread pool (Pillow releases the GIL while decoding). On NumPy every image then goes through its
geometry in the same worker; on MLX the decoded images are moved to the device and images of equal size are resized
together in batched ops. Normalization, colour order, quantization and layout run once on the stacked batch.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._backend import get_backend, is_mlx_array
from .._checks import check_choice
from .._errors import InvalidArgumentError, ShapeError
from .._progress import progress
from .diagnostics import check_constant, check_float_pixels
from .fit import fit, pad_image
from .load import _load_image, _load_pil_or_array
from .normalize import LAYOUTS, OUTPUT_DTYPES, cast_output, get_normalization, normalize, quantize_input, to_layout
from .presets import Preset, get_preset
from .resize import PilImage, _as_hw, _image_pixels
from .transforms import Transform

__all__ = ["Batch", "preprocess"]


@dataclass(frozen=True)
class Batch:
    """The result of :func:`preprocess`: ``tensor`` (stacked, on the requested backend) and one ``Transform`` per
    image. Unpacks as ``tensor, transforms = batch``."""

    tensor: Any
    transforms: tuple[Transform, ...]
    preset: Preset | None = None

    def __iter__(self) -> Iterator[Any]:
        yield self.tensor
        yield self.transforms


def _is_single(images: Any) -> bool:
    if isinstance(images, (list, tuple)):
        return False
    if isinstance(images, np.ndarray) or is_mlx_array(images):
        return len(images.shape) in (2, 3)
    return True


def _as_list(images: Any) -> list[Any]:
    if _is_single(images):
        return [images]
    if isinstance(images, np.ndarray) or is_mlx_array(images):
        if len(images.shape) != 4:
            raise ShapeError(f"an image batch array is [N, H, W, C], got shape {tuple(images.shape)}")
        return [images[i] for i in range(int(images.shape[0]))]
    return list(images)


def _geometry(b: Any, img: Any, p: Preset, size: tuple[int, int] | None) -> tuple[Any, Transform]:
    if size is None:
        img = _image_pixels(img)
        h, w = int(img.shape[-3]), int(img.shape[-2])
        return img, Transform((h, w), (h, w), 1.0, 1.0, 0.0, 0.0, (h, w), (0, 0, 0, 0), (0, 0), "none")
    color = p.pad_color
    if color == "zero_after_normalize":
        color = 0
    return fit(img, size, strategy=p.strategy, method=p.method, antialias=p.antialias, color=color, center=p.center,
               resize_size=p.resize_size, max_size=p.max_size, backend=b.name)


def preprocess(
    images: Any,
    preset: Any = "pytorch",
    size: int | Sequence[int] | None = None,
    *,
    backend: str | None = None,
    workers: int | None = None,
    show_progress: bool | None = None,
    draft: bool = False,
    diagnose: bool = True,
    **overrides: Any,
) -> Batch:
    """Turn one image or many into one model-ready tensor plus the per-image transforms.

    Args:
        images: one image or a list of images: paths, bytes, file objects, PIL images, NumPy/MLX arrays (HWC RGB,
            any sizes), or an [N, H, W, C] array.
        preset: a framework or model preset name (``PRESETS``, ``MODEL_PRESETS``) or a :class:`Preset`.
        size: model input (height, width) (an int for a square); overrides the preset's.
        backend: "numpy" or "mlx" for the result (default: MLX if the inputs are MLX arrays, else NumPy).
        workers: decoding threads (default min(8, CPU count)).
        show_progress: draw a progress bar on a terminal (default: when stderr is a TTY and there are ≥ 16 images).
        draft: let the JPEG decoder downscale (1/2, 1/4, 1/8) towards the model size first: faster, different pixels.
        diagnose: warn about constant images, float pixels already in [0, 1] and mean/std in the wrong channel order
            (``mlxquant.vision.PreprocessWarning`` subclasses).
        **overrides: any :class:`Preset` field: strategy, layout ("hwc", "chw", "nhwc", "nchw"), normalization
            (a name or a Normalization), mean / std (custom, [0, 1] units, one per channel), color ("rgb", "bgr",
            "gray"), dtype ("float32", "float16", "bfloat16", "uint8", "int8"), quant ((scale, zero_point[, dtype])),
            method, antialias, pad_color, center, resize_size, max_size.

    Returns:
        :class:`Batch` (``tensor, transforms = preprocess(...)``). With a single image and an "hwc"/"chw" layout the
        tensor has no batch axis.

    Raises:
        ImageError: an image cannot be read. ShapeError: images of different sizes without a ``size``.
        InvalidArgumentError: unknown preset, override or value.

    Example:
        >>> import numpy as np
        >>> imgs = [np.zeros((480, 640, 3), np.uint8), np.zeros((300, 200, 3), np.uint8)]
        >>> x, ts = preprocess(imgs, "yolo")
        >>> x.shape, x.dtype, ts[1].pad
        ((2, 3, 640, 640), dtype('float32'), (0, 0, 106, 107))
    """
    p = get_preset(preset)
    mean, std = overrides.pop("mean", None), overrides.pop("std", None)
    if mean is not None or std is not None:
        overrides["normalization"] = get_normalization(None, mean=mean, std=std)
    if size is not None:
        overrides["size"] = _as_hw(size)
    p = p.with_overrides(**overrides) if overrides else p
    check_choice("layout", p.layout, LAYOUTS)
    check_choice("dtype", p.dtype, OUTPUT_DTYPES)
    check_choice("color", p.color, ("rgb", "bgr", "gray"))
    single = _is_single(images)
    items = _as_list(images)
    if not items:
        raise InvalidArgumentError("preprocess needs at least one image")
    n = len(items)
    if len(p.layout) == 3 and (not single or n != 1):
        raise ShapeError(f"layout {p.layout!r} holds one image; use 'n{p.layout}' for {n} images")
    batch_layout = p.layout if len(p.layout) == 4 else "n" + p.layout
    if backend is None:
        backend = "mlx" if any(is_mlx_array(i) for i in items) else "numpy"
    b = get_backend(backend=backend)
    load_mode = "L" if p.color == "gray" else "RGB"
    draft_fn = _draft_target(p) if (draft and p.size is not None) else None
    pad_after = p.pad_color == "zero_after_normalize"
    norm = get_normalization(p.normalization)
    if p.color != "gray":
        from .diagnostics import check_normalization_order

        check_normalization_order(norm, p.color)

    def load(i: Any) -> Any:
        if is_mlx_array(i) and b.name == "mlx":
            im = i if len(i.shape) == 3 else b.expand_dims(i, -1)
        elif b.name == "numpy":
            # decoded images stay PIL images until their first resize: Pillow's fast path resizes them as they are,
            # without the full-size copy into NumPy and back (same pixels, so the same result); the geometry turns
            # them into arrays (the read-only ones _load_image(writable=False) gives) wherever an array is needed
            im = _load_pil_or_array(i, mode=load_mode, draft=draft_fn)
            if isinstance(im, PilImage):
                return im
        else:
            im = _load_image(i, mode=load_mode, draft=draft_fn, writable=False)  # only read from here on
        if diagnose and b.is_floating(im):
            check_float_pixels(im, p.normalization)
        return im

    # NumPy, uint8 pixels → float output in NCHW: normalization and the output cast are elementwise, so they are a
    # [C, 256] table computed by the same functions (bit-identical by construction); each image's channels are then
    # gathered from it straight into its slot of one preallocated batch (normalize + cast + layout in one pass, no
    # float temporaries, no final concatenate).
    use_lut = (b.name == "numpy" and not pad_after and p.quant is None and batch_layout == "nchw"
               and p.dtype in ("float32", "float16", "bfloat16"))

    def per_image(k: int) -> tuple[Any, Transform]:
        # NumPy: the whole chain per image inside the worker thread (Pillow and large NumPy ufuncs release the GIL)
        im, t = _geometry(b, load(items[k]), p, p.size)
        if pad_after:
            return im, t
        x1 = _color(b, _gray3(b, b.expand_dims(im, 0), p), p)
        if diagnose:
            check_constant(x1, first_index=k)
        if use_lut:
            # NHWC: uint8 left for _fill_lut below; other dtypes (float arrays) normalized and cast here
            return (x1 if x1.dtype == np.uint8 else _pixels(b, x1, p)), t
        # contiguous here, in the worker: the final concatenate then copies plain C-ordered blocks
        return np.ascontiguousarray(to_layout(_pixels(b, x1, p), batch_layout, src="nhwc", backend=b.name)), t

    nworkers = max(1, min(workers or min(8, os.cpu_count() or 1), n))
    bar = dict(total=n, desc="preprocess", enable=show_progress, min_items=16)
    with ThreadPoolExecutor(max_workers=nworkers) as pool:
        if b.name == "numpy":
            results = list(progress(pool.map(per_image, range(len(items))), **bar))
        else:
            decoded = list(progress(pool.map(load, items), **bar))
    if b.name == "mlx":
        results = _mlx_geometry(b, decoded, p)
    imgs = [r[0] for r in results]
    transforms = tuple(r[1] for r in results)
    shapes = {tuple(int(s) for s in im.shape) for im in imgs}
    if len(shapes) > 1 and not pad_after:
        raise ShapeError(f"images have different sizes after preprocessing ({sorted(shapes)}); pass size=(H, W)")
    if use_lut and all(im.dtype == np.uint8 for im in imgs):
        x = _fill_lut(imgs, p, pool_size=nworkers)
    elif b.name == "numpy" and not pad_after:
        # each worker already produced [1, ...] in the batch layout
        if use_lut:  # a mix of uint8 (left unnormalized for the table) and float images, all [1, H, W, C]
            imgs = [np.ascontiguousarray(to_layout(_pixels(b, im, p) if im.dtype == np.uint8 else im, "nchw",
                                                   src="nhwc")) for im in imgs]
        x = imgs[0] if n == 1 else np.concatenate(imgs, axis=0)
    else:
        x = _stack(b, imgs, pad_after)
        x = _color(b, _gray3(b, x, p), p)
        if diagnose:
            check_constant(x)
        x = _pixels(b, x, p)
        if pad_after:
            x = _zero_padding(b, x, transforms, p)
        x = to_layout(x, batch_layout, src="nhwc", backend=b.name)
    out = x if batch_layout == p.layout else to_layout(x, p.layout, src=batch_layout, backend=b.name)
    if b.name == "numpy":
        out = np.ascontiguousarray(out)  # runtimes (onnxruntime, LiteRT) want C-contiguous inputs
    return Batch(out, transforms, p)


def _fill_lut(imgs: list[np.ndarray], p: Preset, pool_size: int) -> np.ndarray:
    """uint8 [1, H, W, C] images → the normalized, cast NCHW batch through a per-channel table of the 256 values.

    The table is ``_pixels`` (normalize, then cast_output) applied to every value 0..255 of every channel, so each
    output element is exactly what the elementwise chain gives for that pixel.
    """
    c = int(imgs[0].shape[-1])
    values = np.ascontiguousarray(np.broadcast_to(np.arange(256, dtype=np.uint8)[:, None], (256, c)))
    lut = np.ascontiguousarray(np.asarray(_pixels(get_backend(backend="numpy"), values, p)).T)  # [C, 256]
    h, w = int(imgs[0].shape[1]), int(imgs[0].shape[2])
    out = np.empty((len(imgs), c, h, w), dtype=lut.dtype)

    def one(k: int) -> None:
        for ch in range(c):
            np.take(lut[ch], imgs[k][0, :, :, ch], out=out[k, ch])

    if len(imgs) > 1 and pool_size > 1:
        with ThreadPoolExecutor(max_workers=pool_size) as pool:
            list(pool.map(one, range(len(imgs))))
    else:
        for k in range(len(imgs)):
            one(k)
    return out


def _gray3(b: Any, x: Any, p: Preset) -> Any:
    """One-channel images fed to a colour model become three equal channels (uint8 pixels)."""
    channels = int(x.shape[-1])
    if p.color == "gray" and channels != 1:
        raise ShapeError(f"color='gray' needs one channel, got {channels}")
    if channels == 1 and p.color != "gray":
        return b.concatenate([x, x, x], axis=-1)
    return x


def _color(b: Any, x: Any, p: Preset) -> Any:
    if p.color == "bgr":
        return b.take(x, b.asarray(np.array([2, 1, 0], dtype=np.int32)), axis=-1)
    return x


def _draft_target(p: Preset) -> Any:
    """For JPEG draft decoding: the smallest (h, w) the image will be resized to under the preset's strategy."""
    from .fit import _detr_size

    H, W = p.size  # type: ignore[misc]

    def need(hw: tuple[int, int]) -> tuple[int, int]:
        h, w = hw
        if p.strategy in ("contain", "letterbox", "mediapipe", "longest_side"):
            r = min(H / h, W / w)
        elif p.strategy == "cover":
            r = max(H / h, W / w)
        elif p.strategy == "shorter_side_crop":
            rs = p.resize_size or int(min(H, W) / 0.875)
            r = rs / min(h, w)
        elif p.strategy == "shorter_side":
            nh, nw = _detr_size(h, w, H, p.max_size)
            return nh, nw
        else:  # stretch
            return H, W
        return int(np.ceil(h * r)), int(np.ceil(w * r))

    return need


def _stack(b: Any, imgs: list[Any], pad_after: bool) -> Any:
    if pad_after:
        hh = max(int(i.shape[0]) for i in imgs)
        ww = max(int(i.shape[1]) for i in imgs)
        imgs = [pad_image(i, 0, hh - int(i.shape[0]), 0, ww - int(i.shape[1]), 0, backend=b.name) for i in imgs]
    return b.stack([b.asarray(i) for i in imgs], axis=0)


def _pixels(b: Any, x: Any, p: Preset) -> Any:
    norm = get_normalization(p.normalization)
    if p.quant is not None:
        if p.dtype not in ("uint8", "int8"):
            raise InvalidArgumentError(f"quant=(scale, zero_point) produces an integer input; dtype must be 'uint8' "
                                       f"or 'int8', got {p.dtype!r}")
        quant = p.quant if len(tuple(p.quant)) == 3 else (*tuple(p.quant), p.dtype)
        return quantize_input(x, norm, quant, backend=b.name)
    if p.dtype in ("uint8", "int8"):
        if norm.name != "raw":
            raise InvalidArgumentError(
                f"dtype {p.dtype!r} with normalization {norm.name!r} needs the model input's quantization: pass "
                "quant=(scale, zero_point) (e.g. from mq.inspect_model), or normalization='raw' for plain pixels")
        if b.dtype_name(x) != "uint8":
            raise InvalidArgumentError(f"dtype {p.dtype!r} without quant needs uint8 pixels, got {b.dtype_name(x)}")
        if p.dtype == "uint8":
            return x
        # int8 inputs of quantized image models take pixel - 128 (scale 1/255 on [0, 1] with zero point -128)
        return quantize_input(x, "raw", (1.0, -128, "int8"), backend=b.name)
    y = normalize(x, norm, backend=b.name)
    return cast_output(y, p.dtype, backend=b.name)


def _zero_padding(b: Any, x: Any, transforms: Sequence[Transform], p: Preset) -> Any:
    """Set everything outside each image's content window to 0 (after normalization), SAM/DETR style."""
    hh, ww = int(x.shape[1]), int(x.shape[2])
    rows = np.arange(hh)[None, :, None]
    cols = np.arange(ww)[None, None, :]
    masks = []
    for t in transforms:
        x0, y0, x1, y1 = t.content_window()
        masks.append((rows >= int(y0)) & (rows < round(y1)) & (cols >= int(x0)) & (cols < round(x1)))
    m = np.concatenate(masks, axis=0)[..., None]
    zero = b.zeros((1,), b.dtype_name(x)) if b.dtype_name(x) != "bfloat16" else b.astype(b.zeros((1,)), "bfloat16")
    return b.where(b.asarray(m), x, zero)


def _mlx_geometry(b: Any, decoded: list[Any], p: Preset) -> list[tuple[Any, Transform]]:
    """Move images to the device; resize images of equal size together (one batched op per size group)."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for k, im in enumerate(decoded):
        groups.setdefault(tuple(int(s) for s in im.shape), []).append(k)
    out: list[Any] = [None] * len(decoded)
    for _, ks in groups.items():
        batch = b.stack([b.asarray(decoded[k]) for k in ks], axis=0)
        imgs, t = _geometry(b, batch, p, p.size)
        if p.size is None:
            t = Transform(t.original_size, t.input_size, 1.0, 1.0, 0.0, 0.0, t.resized_size, (0, 0, 0, 0), (0, 0),
                          "none")
            imgs = batch
        for j, k in enumerate(ks):
            out[k] = (imgs[j], t)
    return out

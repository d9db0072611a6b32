"""Loading images from paths, bytes, file objects, PIL images and arrays into HWC NumPy arrays.

Mode rules (documented in docs/spec/vision.md): EXIF orientation is applied first; then
``1``/``L``/``P``/``LA``/``RGBA``/``CMYK``/``YCbCr``/``I;16*``/``I`` become RGB (or RGBA with ``keep_alpha``,
or one gray channel with ``mode="L"``). Alpha is *dropped*, not composited (as Pillow ``convert("RGB")`` and OpenCV
``imread`` do). 16-bit single-channel images keep 16 bits with ``keep_16bit=True``; otherwise they become 8-bit by
``v >> 8`` (OpenCV's rule; Pillow's ``convert("L")`` would clip everything above 255 to white).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from .._backend import is_mlx_array, to_numpy
from .._checks import check_choice
from .._errors import ImageError, InputTypeError, ShapeError

__all__ = ["LOAD_MODES", "load_image"]

LOAD_MODES = ("RGB", "BGR", "L", "RGBA", "BGRA")


def _describe(src: Any) -> str:
    if isinstance(src, (str, os.PathLike)):
        return f"file {os.fspath(src)!r}"
    if isinstance(src, (bytes, bytearray, memoryview)):
        return f"{len(src)} bytes of image data"
    name = getattr(src, "name", None)
    return f"file object {name!r}" if name else f"{type(src).__name__} object"


_EXIF_ORIENTATION = 0x0112
_SWAPPING_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that rotate by 90 degrees


def _draft_request(im: Any, draft: Any) -> tuple[int, int]:
    """The (width, height) to ask Pillow's JPEG draft for: at least the size the image will be resized to."""
    w, h = im.size
    try:
        swap = im.getexif().get(_EXIF_ORIENTATION, 1) in _SWAPPING_ORIENTATIONS
    except Exception:  # unreadable EXIF: no draft hint from it
        swap = False
    if callable(draft):
        need_h, need_w = draft((w, h) if swap else (h, w))
    else:
        need_h, need_w = int(draft[0]), int(draft[1])
    if swap:
        need_h, need_w = need_w, need_h
    return max(int(need_w), 1), max(int(need_h), 1)


def _open_pil(src: Any, draft: Any) -> Any:
    from PIL import Image, UnidentifiedImageError

    what = _describe(src)
    try:
        if isinstance(src, (bytes, bytearray, memoryview)):
            im = Image.open(io.BytesIO(bytes(src)))
        else:
            im = Image.open(src)
        if draft is not None and im.format == "JPEG":
            # JPEG DCT-domain downscale (1/2, 1/4, 1/8) to at least `draft`: much faster, different pixels (opt-in).
            im.draft("RGB" if im.mode not in ("L", "CMYK") else im.mode, _draft_request(im, draft))
        im.load()
    except FileNotFoundError:
        raise ImageError(f"cannot read {what}: no such file") from None
    except UnidentifiedImageError:
        raise ImageError(f"cannot read {what}: not an image (or a format Pillow cannot decode)") from None
    except Image.DecompressionBombError as e:
        raise ImageError(f"cannot read {what}: {e} (raise PIL.Image.MAX_IMAGE_PIXELS if the file is trusted)") from None
    except IsADirectoryError:
        raise ImageError(f"cannot read {what}: it is a directory") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"cannot read {what}: {e} (truncated or corrupt image?)") from None
    return im


def _pil_to_array(im: Any, mode: str, keep_alpha: bool, keep_16bit: bool, writable: bool = True) -> np.ndarray:
    m = im.mode
    if m in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(im)
        if m == "I":
            # 32-bit integer images from 16-bit files: keep the 16-bit range
            a = np.clip(a, 0, 65535)
        a = a.astype(np.uint16)
        if not keep_16bit:
            a = (a >> 8).astype(np.uint8)  # OpenCV imread's 16 → 8 bit rule
        a = a[..., None]
        if mode in ("RGB", "BGR", "RGBA", "BGRA") or keep_alpha:
            a = np.repeat(a, 3, axis=-1)
            if keep_alpha or mode in ("RGBA", "BGRA"):
                full = np.iinfo(a.dtype).max
                a = np.concatenate([a, np.full((*a.shape[:2], 1), full, dtype=a.dtype)], axis=-1)
        return _order(a, mode)
    if m == "F":
        raise ImageError("32-bit float images (Pillow mode 'F') are not loaded as pixels; pass the array itself")
    has_alpha = m in ("RGBA", "LA", "PA", "RGBa", "La") or (m == "P" and "transparency" in im.info)
    want_alpha = keep_alpha or mode in ("RGBA", "BGRA")
    if mode == "L":
        # Pillow's ITU-R 601-2 luma L = (R·19595 + G·38470 + B·7471 + 2^15) >> 16
        g = im.convert("L") if m != "L" else im
        return np.asarray(g)[..., None].copy()
    if want_alpha:
        conv = im.convert("RGBA")
        a = np.asarray(conv).copy()
        if not has_alpha:
            a[..., 3] = 255
    else:
        # np.asarray wraps Pillow's tobytes() (one copy, read-only); np.array(im) takes a ~7x slower route to the same
        # bytes (12.9 vs 1.7 ms at 1920x1080), so a writable result is that read-only array copied once more.
        a = np.asarray(im.convert("RGB") if m != "RGB" else im)
        if writable:
            a = a.copy()
    return _order(a, mode)


def _order(a: np.ndarray, mode: str) -> np.ndarray:
    if mode in ("BGR", "BGRA") and a.shape[-1] >= 3:
        a = np.ascontiguousarray(np.concatenate([a[..., 2::-1], a[..., 3:]], axis=-1))
    return a


def _array_image(src: Any, mode: str, keep_alpha: bool) -> np.ndarray:
    a = to_numpy(src) if is_mlx_array(src) else np.asarray(src)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 3, 4):
        raise ShapeError(f"image array has shape {a.shape}, expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)")
    if a.dtype == np.bool_ or a.dtype.kind not in "uif":
        raise InputTypeError(f"image array has dtype {a.dtype}, expected uint8, uint16 or float")
    c = a.shape[-1]
    if mode == "L":
        if c == 1:
            return a.copy()
        from .color import to_gray

        return np.asarray(to_gray(a[..., :3]))
    if c == 1:
        a = np.repeat(a, 3, axis=-1)
    want_alpha = keep_alpha or mode in ("RGBA", "BGRA")
    if want_alpha and a.shape[-1] == 3:
        full = np.iinfo(a.dtype).max if a.dtype.kind in "ui" else 1.0
        a = np.concatenate([a, np.full((*a.shape[:2], 1), full, dtype=a.dtype)], axis=-1)
    elif not want_alpha and a.shape[-1] == 4:
        a = a[..., :3]
    # arrays are taken to be RGB(A) already; BGR asks for a channel swap
    return _order(np.array(a, copy=True), mode)


# PNG signature and IHDR layout: 8-byte signature, chunk length (4), "IHDR" (4), width (4), height (4), bit depth (1),
# colour type (1): 2 = RGB, 6 = RGBA.
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png16_colour(src: Any) -> int | None:
    """The PNG colour type (2 or 6) if ``src`` is a 16-bit colour PNG (which Pillow decodes to 8 bits), else None."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        head = bytes(src[:26])
    else:
        try:
            with open(src, "rb") as f:
                head = f.read(26)
        except OSError:
            return None  # _open_pil reports it with the file name
    if len(head) == 26 and head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR" and head[24] == 16 and \
            head[25] in (2, 6):
        return head[25]
    return None


# EXIF orientation → NumPy operations, as Pillow's ImageOps.exif_transpose (FLIP_LEFT_RIGHT, ROTATE_180, ...).
_ORIENT_OPS = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


def _load_png16_colour(src: Any, mode: str, keep_alpha: bool, exif: bool) -> np.ndarray:
    """16-bit colour PNGs with keep_16bit: decoded by OpenCV (Pillow has no 16-bit RGB mode), never truncated."""
    try:
        import cv2
    except ImportError:
        from .._errors import MissingDependencyError

        raise MissingDependencyError(f"{_describe(src)} is a 16-bit colour PNG: Pillow decodes it to 8 bits, so "
                                     "keep_16bit=True needs OpenCV (pip install opencv-python-headless), or pass "
                                     "keep_16bit=False") from None
    data = bytes(src) if isinstance(src, (bytes, bytearray, memoryview)) else open(src, "rb").read()
    a = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if a is None or a.dtype != np.uint16:
        raise ImageError(f"cannot read {_describe(src)}: corrupt 16-bit PNG")
    a = a[..., [2, 1, 0, 3]] if a.shape[-1] == 4 else a[..., ::-1]  # OpenCV's BGR(A) → RGB(A)
    if exif:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            orient = im.getexif().get(_EXIF_ORIENTATION, 1)
        if orient in _ORIENT_OPS:
            a = _ORIENT_OPS[orient](a)
    if mode == "L":
        raise ImageError(f"{_describe(src)} is a 16-bit colour PNG; mode='L' with keep_16bit is not supported "
                         "(convert to gray after loading)")
    want_alpha = keep_alpha or mode in ("RGBA", "BGRA")
    if want_alpha and a.shape[-1] == 3:
        a = np.concatenate([a, np.full((*a.shape[:2], 1), 65535, np.uint16)], axis=-1)
    elif not want_alpha:
        a = a[..., :3]
    return _order(np.ascontiguousarray(a), mode)


def load_image(
    src: Any,
    *,
    mode: str = "RGB",
    keep_alpha: bool = False,
    exif: bool = True,
    keep_16bit: bool = False,
    draft: tuple[int, int] | Callable[[tuple[int, int]], tuple[int, int]] | None = None,
) -> np.ndarray:
    """Load an image as an HWC NumPy array (uint8, or uint16 with ``keep_16bit``).

    Args:
        src: a path, bytes, a binary file object, a PIL image, or an array (NumPy or MLX; [H, W] or [H, W, C], taken
            as RGB(A)).
        mode: "RGB", "BGR", "L" (one gray channel, ITU-R 601-2 luma as Pillow), "RGBA" or "BGRA".
        keep_alpha: add the alpha channel (RGBA / BGRA); opaque images get 255.
        exif: apply the EXIF orientation tag (Pillow ``ImageOps.exif_transpose``).
        keep_16bit: keep 16-bit images as uint16 (else ``v >> 8`` to uint8). 16-bit colour PNGs, which Pillow
            truncates to 8 bits, are decoded with OpenCV then (MissingDependencyError without it).
        draft: JPEG only, opt-in: let the decoder downscale by 1/2, 1/4 or 1/8 (DCT scaling) while staying at least
            (height, width) — or a function of the image's (height, width) returning that minimum. Much faster for
            small model inputs; the pixels differ from a full decode + resize.

    Returns:
        [H, W, C] array, C = 3 (RGB/BGR), 4 (with alpha) or 1 (L). A fresh array (never a view of the input).

    Raises:
        ImageError: unreadable, truncated or non-image data (the message names the file).
        InvalidArgumentError: unknown mode.

    Example:
        >>> import io, numpy as np
        >>> from PIL import Image
        >>> buf = io.BytesIO(); Image.new("LA", (3, 2), (100, 7)).save(buf, "PNG")
        >>> load_image(buf.getvalue()).shape, load_image(buf.getvalue())[0, 0].tolist()
        ((2, 3, 3), [100, 100, 100])
    """
    return _load_image(src, mode=mode, keep_alpha=keep_alpha, exif=exif, keep_16bit=keep_16bit, draft=draft,
                       writable=True)


def _load_image(src: Any, *, mode: str = "RGB", keep_alpha: bool = False, exif: bool = True, keep_16bit: bool = False,
                draft: Any = None, writable: bool = True) -> np.ndarray:
    """load_image; ``writable=False`` (preprocess, which only reads) may return Pillow's read-only RGB array."""
    check_choice("mode", mode, LOAD_MODES)
    if isinstance(src, np.ndarray) or is_mlx_array(src):
        return _array_image(src, mode, keep_alpha)
    im = _open_oriented(src, mode, keep_alpha, exif, keep_16bit, draft)
    if isinstance(im, np.ndarray):
        return im
    return _pil_to_array(im, mode, keep_alpha, keep_16bit, writable)


def _load_pil_or_array(src: Any, *, mode: str = "RGB", exif: bool = True, draft: Any = None) -> Any:
    """For preprocess on NumPy: ``src`` decoded as an 8-bit PIL image of mode ``mode`` ("RGB" or "L"), wrapped in a
    :class:`~mlxquant.vision.resize.PilImage` whose pixels are exactly ``_load_image(src, mode=mode, ...)``'s array
    (the same Pillow steps: open, draft, EXIF transpose, ``convert``), so that the Pillow resize fast path can resize
    it without the full-size copy into NumPy and back. Anything else (arrays, 16-bit and 32-bit modes, "F") is
    returned as ``_load_image(..., writable=False)`` gives it."""
    from .resize import PilImage

    check_choice("mode", mode, LOAD_MODES)
    if mode not in ("RGB", "L") or isinstance(src, np.ndarray) or is_mlx_array(src):
        return _load_image(src, mode=mode, exif=exif, draft=draft, writable=False)
    im = _open_oriented(src, mode, False, exif, False, draft)
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _pil_to_array(im, mode, False, False, writable=False)
    # _pil_to_array's own rule for these modes: np.asarray(im.convert(mode) if im.mode != mode else im)
    return PilImage(im.convert(mode) if im.mode != mode else im)


def _open_oriented(src: Any, mode: str, keep_alpha: bool, exif: bool, keep_16bit: bool, draft: Any) -> Any:
    """The decoded PIL image of ``src`` with its EXIF orientation applied (or, for 16-bit colour PNGs with
    ``keep_16bit``, the final array)."""
    try:
        from PIL import Image, ImageOps
    except ImportError:  # pragma: no cover - pillow is a core dependency
        from .._errors import MissingDependencyError

        raise MissingDependencyError("load_image needs Pillow: pip install pillow") from None
    if isinstance(src, Image.Image):
        im = src
        try:
            im.load()
        except (OSError, ValueError) as e:
            raise ImageError(f"cannot read PIL image: {e}") from None
    elif isinstance(src, (str, os.PathLike, bytes, bytearray, memoryview)) or hasattr(src, "read"):
        if keep_16bit:
            if hasattr(src, "read"):
                src = src.read()
            if _png16_colour(src) is not None:
                return _load_png16_colour(src, mode, keep_alpha, exif)
        im = _open_pil(src, draft)
    else:
        raise InputTypeError(f"cannot load an image from {type(src).__name__}; pass a path, bytes, a file object, "
                             "a PIL image or an array")
    if exif:
        try:
            # only when there is something to do: exif_transpose copies the image otherwise
            if im.getexif().get(_EXIF_ORIENTATION, 1) not in (1, None):
                im = ImageOps.exif_transpose(im)
        except Exception as e:  # a broken EXIF block must not hide the image
            raise ImageError(f"cannot apply the EXIF orientation of {_describe(src)}: {e}; pass exif=False") from None
    return im

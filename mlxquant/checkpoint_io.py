"""Streaming checkpoint reading and writing: safetensors (one file or a sharded index) and ``.npz``.

Tensors are read one at a time straight from their file offsets (``np.memmap``), so walking a checkpoint never
holds more than one tensor in memory. Nothing here imports MLX, torch or the ``safetensors`` package.

The safetensors format (https://github.com/huggingface/safetensors): 8 bytes little-endian unsigned header length
``N``, ``N`` bytes of UTF-8 JSON ``{name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
"__metadata__": {str: str}}``, then the raw little-endian tensor bytes; offsets are relative to the byte after the
header. ``BF16`` tensors are read as float32 (exact: a bfloat16 is the top half of a float32) unless ``raw=True``
asks for the uint16 bit patterns.

Public functions (stable signatures, used by ``mlxquant analyze`` and ``mlxquant quantize-weights``):

* :func:`list_tensors` — names, dtypes, shapes and byte sizes, from the headers only;
* :func:`read_tensor` — one tensor;
* :func:`iter_tensors` — ``(name, array)`` pairs, one tensor in memory at a time;
* :func:`write_safetensors` — write a mapping of arrays atomically; :class:`SafetensorsWriter` streams tensors into a
  file whose header is declared up front.
"""

from __future__ import annotations

import json
import math
import os
import struct
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from ._errors import InputTypeError, InvalidArgumentError, ModelFormatError

__all__ = [
    "SAFETENSORS_DTYPES",
    "SafetensorsWriter",
    "TensorInfo",
    "bf16_bits_to_float32",
    "checkpoint_files",
    "float32_to_bf16_bits",
    "iter_row_chunks",
    "iter_tensors",
    "list_tensors",
    "read_tensor",
    "write_safetensors",
]

#: safetensors dtype code → mlxquant dtype name (the dtypes this module reads and writes).
SAFETENSORS_DTYPES: Mapping[str, str] = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U64": "uint64",
    "U32": "uint32",
    "U16": "uint16",
    "U8": "uint8",
    "BOOL": "bool",
}
_CODE_OF = {v: k for k, v in SAFETENSORS_DTYPES.items()}
# NumPy storage dtype of each name (bfloat16 is stored as its uint16 bit pattern; all little-endian on disk).
_STORAGE = {name: np.dtype("<u2") if name == "bfloat16" else np.dtype(name).newbyteorder("<")
            for name in SAFETENSORS_DTYPES.values()}
# The safetensors reference implementation refuses headers above 100 MB; so do we (a corrupt length field).
_MAX_HEADER = 100_000_000
_INDEX_SUFFIX = ".safetensors.index.json"


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor of a checkpoint lives and what it is.

    Attributes:
        name: tensor name (e.g. ``"model.layers.0.mlp.down_proj.weight"``).
        dtype: mlxquant dtype name (``"float32"``, ``"bfloat16"``, ...), or the file's own code (e.g. ``"F8_E4M3"``)
            when mlxquant cannot read it (:func:`read_tensor` then raises).
        shape: tensor shape.
        nbytes: size in bytes on disk.
        file: the file that holds it.
        offset: absolute byte offset of its data in ``file`` (-1 for ``.npz`` members).
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int
    file: str
    offset: int = -1

    @property
    def size(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)


# ---- bfloat16 helpers ------------------------------------------------------------------------------------------------
def bf16_bits_to_float32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) → float32, exactly (the bf16 bits become the top half of the float32)."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << np.uint32(16)).view(np.float32)


def float32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 → bfloat16 bit patterns (uint16), round half to even; NaN stays a quiet NaN (as ml_dtypes / torch)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    nan = (u & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    # RNE on the dropped 16 bits: add 0x7FFF plus the lowest kept bit, then truncate (the standard bit trick).
    r = (u.astype(np.uint64) + np.uint64(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint64(16)
    r = r.astype(np.uint16)
    return np.where(nan, ((u >> np.uint32(16)) | np.uint32(0x40)).astype(np.uint16), r)


# ---- locating the files ----------------------------------------------------------------------------------------------
def checkpoint_files(path: str | os.PathLike[str]) -> list[Path]:
    """The data files of a checkpoint: one ``.safetensors`` / ``.npz`` file, a ``*.safetensors.index.json`` (its
    shards), or a folder (its index if present, else every ``*.safetensors`` in it, else every ``*.npz``).

    Raises:
        ModelFormatError: missing path, unknown extension, unreadable index, a folder without weights.
    """
    p = Path(path)
    if not p.exists():
        raise ModelFormatError(f"checkpoint {str(p)!r} does not exist")
    if p.is_dir():
        idx = sorted(p.glob("*" + _INDEX_SUFFIX))
        if len(idx) > 1:
            raise ModelFormatError(f"folder {str(p)!r} holds several safetensors index files: {[i.name for i in idx]}")
        if idx:
            return checkpoint_files(idx[0])
        files = sorted(p.glob("*.safetensors")) or sorted(p.glob("*.npz"))
        if not files:
            raise ModelFormatError(f"folder {str(p)!r} holds no *.safetensors, *.safetensors.index.json or *.npz file")
        return files
    if p.name.endswith(_INDEX_SUFFIX) or p.suffix == ".json":
        try:
            index = json.loads(p.read_text(encoding="utf-8"))
            weight_map = index["weight_map"]
            shards = sorted(set(weight_map.values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise ModelFormatError(f"cannot read safetensors index {str(p)!r}: {e!r}") from None
        files = [p.parent / s for s in shards]
        missing = [str(f) for f in files if not f.exists()]
        if missing:
            raise ModelFormatError(f"index {str(p)!r} names shards that do not exist: {missing}")
        return files
    if p.suffix in (".safetensors", ".npz"):
        return [p]
    raise ModelFormatError(
        f"unknown checkpoint format {str(p)!r}; expected a .safetensors file, a *.safetensors.index.json, "
        "a .npz file or a folder holding them"
    )


# ---- headers -------------------------------------------------------------------------------------------------------
def _read_safetensors_header(file: Path) -> tuple[dict[str, Any], int, dict[str, str]]:
    """(entries, data_start, metadata) of one safetensors file, validated against the file size."""
    try:
        size = file.stat().st_size
        with open(file, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise ModelFormatError(f"{str(file)!r} is truncated: {size} bytes, not even a safetensors header")
            (n,) = struct.unpack("<Q", head)
            if n > _MAX_HEADER or 8 + n > size:
                raise ModelFormatError(
                    f"{str(file)!r} is not a valid safetensors file (header length {n}, file size {size}): "
                    "truncated or not safetensors"
                )
            raw = f.read(n)
    except OSError as e:
        raise ModelFormatError(f"cannot read {str(file)!r}: {e}") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ModelFormatError(f"{str(file)!r} has a corrupt safetensors header: {e}") from None
    if not isinstance(header, dict):
        raise ModelFormatError(f"{str(file)!r} has a corrupt safetensors header (not a JSON object)")
    meta = header.pop("__metadata__", None) or {}
    data_start = 8 + n
    data_size = size - data_start
    for name, e in header.items():
        try:
            begin, end = (int(v) for v in e["data_offsets"])
            shape = tuple(int(s) for s in e["shape"])
            code = str(e["dtype"])
        except (KeyError, TypeError, ValueError):
            raise ModelFormatError(f"{str(file)!r}: corrupt header entry for tensor {name!r}: {e!r}") from None
        if not 0 <= begin <= end or any(s < 0 for s in shape):
            raise ModelFormatError(f"{str(file)!r}: tensor {name!r} has invalid offsets {begin, end} / shape {shape}")
        if end > data_size:
            raise ModelFormatError(
                f"{str(file)!r} is truncated: tensor {name!r} ends at byte {end} of the data section, "
                f"which has only {data_size} bytes"
            )
        if code in SAFETENSORS_DTYPES:
            want = math.prod(shape) * _STORAGE[SAFETENSORS_DTYPES[code]].itemsize
            if end - begin != want:
                raise ModelFormatError(
                    f"{str(file)!r}: tensor {name!r} ({code}, shape {shape}) needs {want} bytes, "
                    f"header says {end - begin}"
                )
    return header, data_start, meta


def _infos_of_file(file: Path) -> list[TensorInfo]:
    if file.suffix == ".npz":
        return _infos_of_npz(file)
    header, start, _ = _read_safetensors_header(file)
    out = []
    for name, e in header.items():
        begin, end = (int(v) for v in e["data_offsets"])
        dtype = SAFETENSORS_DTYPES.get(str(e["dtype"]), str(e["dtype"]))
        out.append(TensorInfo(name, dtype, tuple(int(s) for s in e["shape"]), end - begin, str(file), start + begin))
    out.sort(key=lambda t: t.offset)  # file order: sequential reads
    return out


def _infos_of_npz(file: Path) -> list[TensorInfo]:
    try:
        with zipfile.ZipFile(file) as z:
            members = [m for m in z.namelist() if m.endswith(".npy")]
            out = []
            for m in members:
                with z.open(m) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, _, dt = np.lib.format.read_array_header_1_0(f)
                    else:
                        shape, _, dt = np.lib.format.read_array_header_2_0(f)
                name = m[: -len(".npy")]
                dtype = "bfloat16" if dt.name == "bfloat16" else dt.name
                if dt.hasobject:
                    dtype = "object"
                out.append(TensorInfo(name, dtype, tuple(shape), int(math.prod(shape) * dt.itemsize), str(file)))
            return out
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as e:
        raise ModelFormatError(f"cannot read {str(file)!r} as .npz (unreadable or truncated): {e}") from None


def list_tensors(path: str | os.PathLike[str]) -> list[TensorInfo]:
    """Every tensor of a checkpoint, from the headers only (no tensor data is read).

    Args:
        path: a ``.safetensors`` file, a ``*.safetensors.index.json``, a ``.npz`` file, or a folder holding them.

    Returns:
        One :class:`TensorInfo` per tensor, shard by shard in file order.

    Raises:
        ModelFormatError: unreadable, truncated or corrupt files; a tensor name present twice (in two shards).

    Example:
        >>> import numpy as np, tempfile, os
        >>> d = tempfile.mkdtemp(); p = os.path.join(d, "m.safetensors")
        >>> write_safetensors(p, {"w": np.ones((2, 3), np.float16)})
        >>> [(t.name, t.dtype, t.shape, t.nbytes) for t in list_tensors(p)]
        [('w', 'float16', (2, 3), 12)]
    """
    infos: list[TensorInfo] = []
    seen: dict[str, str] = {}
    for file in checkpoint_files(path):
        for t in _infos_of_file(file):
            if t.name in seen:
                raise ModelFormatError(
                    f"tensor name collision: {t.name!r} is in both {seen[t.name]!r} and {t.file!r}"
                )
            seen[t.name] = t.file
            infos.append(t)
    return infos


# ---- reading ---------------------------------------------------------------------------------------------------------
def _read_info(t: TensorInfo, raw: bool) -> np.ndarray:
    if t.dtype not in _STORAGE:
        raise ModelFormatError(
            f"tensor {t.name!r} in {t.file!r} has dtype {t.dtype!r}, which mlxquant cannot read; "
            f"readable dtypes are: {', '.join(SAFETENSORS_DTYPES)}"
        )
    if t.offset < 0:  # npz member
        try:
            with np.load(t.file, allow_pickle=False) as z:
                a = z[t.name]
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise ModelFormatError(f"cannot read tensor {t.name!r} from {t.file!r}: {e}") from None
        if a.dtype.name == "bfloat16" and raw:
            return a.view(np.uint16)
        if a.dtype.name == "bfloat16":
            return bf16_bits_to_float32(a.view(np.uint16))
        return a
    storage = _STORAGE[t.dtype]
    if t.size == 0:
        a = np.zeros(t.shape, storage)
    else:
        try:
            a = np.memmap(t.file, dtype=storage, mode="r", offset=t.offset, shape=t.shape)
        except (OSError, ValueError) as e:
            raise ModelFormatError(f"cannot read tensor {t.name!r} from {t.file!r}: {e}") from None
    if t.dtype == "bfloat16" and not raw:
        return bf16_bits_to_float32(a)
    if not storage.isnative:
        return a.astype(storage.newbyteorder("="))
    return a


def iter_row_chunks(t: TensorInfo, max_bytes: int = 32 << 20, *, raw: bool = False) -> Iterator[np.ndarray]:
    """Read one tensor in chunks of whole rows (the last axis), each at most ``max_bytes`` of storage (≥ one row).

    Each chunk is a fresh 2-D array ``(rows, shape[-1])`` read with ordinary file reads (no memory map, so the
    resident memory of a streaming job stays at one chunk); bfloat16 becomes float32 unless ``raw``. A 0-d or 1-D
    tensor is one row; ``.npz`` members are read whole and then sliced.

    Raises:
        ModelFormatError: unreadable or truncated file, a dtype mlxquant cannot read.
    """
    if t.dtype not in _STORAGE:
        _read_info(t, raw)  # raises the unknown-dtype error
    width = t.shape[-1] if t.shape else 1
    nrows = t.size // width if width else 0
    storage = _STORAGE[t.dtype]
    step = max(1, max_bytes // max(1, width * storage.itemsize))
    if t.offset < 0 or width == 0 or nrows == 0:
        a = np.asarray(_read_info(t, raw)).reshape(nrows, width)
        for r0 in range(0, max(nrows, 1), step):
            yield a[r0 : r0 + step]
        return
    try:
        with open(t.file, "rb") as f:
            f.seek(t.offset)
            for r0 in range(0, nrows, step):
                count = min(step, nrows - r0) * width
                a = np.fromfile(f, dtype=storage, count=count)
                if a.size != count:
                    raise ModelFormatError(f"{t.file!r} is truncated inside tensor {t.name!r}")
                a = a.reshape(-1, width)
                if t.dtype == "bfloat16" and not raw:
                    a = bf16_bits_to_float32(a)
                elif not storage.isnative:
                    a = a.astype(storage.newbyteorder("="))
                yield a
    except OSError as e:
        raise ModelFormatError(f"cannot read tensor {t.name!r} from {t.file!r}: {e}") from None


def read_tensor(path: str | os.PathLike[str], name: str, *, raw: bool = False) -> np.ndarray:
    """Read one tensor of a checkpoint.

    Args:
        path: as for :func:`list_tensors`.
        name: the tensor name.
        raw: return bfloat16 tensors as their uint16 bit patterns instead of float32.

    Returns:
        A NumPy array. For safetensors it is a read-only view of the file (``np.memmap``, nothing is read before it
        is used) except for bfloat16, which is converted to float32 exactly (``raw=False``).

    Raises:
        KeyError: no tensor of that name (the message names a few that exist).
        ModelFormatError: unreadable or truncated file, a dtype mlxquant cannot read.

    Example:
        >>> import numpy as np, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "m.safetensors")
        >>> write_safetensors(p, {"b": np.arange(3, dtype=np.int32)})
        >>> read_tensor(p, "b")
        memmap([0, 1, 2], dtype=int32)
    """
    infos = list_tensors(path)
    for t in infos:
        if t.name == name:
            return _read_info(t, raw)
    some = ", ".join(repr(t.name) for t in infos[:5])
    raise KeyError(f"no tensor {name!r} in {str(path)!r} ({len(infos)} tensors, e.g. {some})")


def iter_tensors(
    path: str | os.PathLike[str], *, raw: bool = False, names: Iterable[str] | None = None
) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(name, array)`` for every tensor (or the given ``names``), one tensor in memory at a time.

    Args:
        path: as for :func:`list_tensors`.
        raw: as for :func:`read_tensor`.
        names: only these tensors (in checkpoint order).

    Raises:
        ModelFormatError: as for :func:`read_tensor`.

    Example:
        >>> import numpy as np, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "m.npz")
        >>> np.savez(p, a=np.zeros(2, np.float32), b=np.ones(1, np.int8))
        >>> [(n, a.dtype.name) for n, a in iter_tensors(p)]
        [('a', 'float32'), ('b', 'int8')]
    """
    wanted = None if names is None else set(names)
    for t in list_tensors(path):
        if wanted is None or t.name in wanted:
            yield t.name, _read_info(t, raw)


# ---- writing ---------------------------------------------------------------------------------------------------------
def _as_numpy_for_write(a: Any) -> tuple[np.ndarray, str]:
    """(contiguous little-endian storage array, dtype name) for a NumPy or MLX array."""
    from ._backend import is_mlx_array

    if is_mlx_array(a):
        import mlx.core as mx

        if a.dtype == mx.bfloat16:
            return np.array(a.view(mx.uint16)), "bfloat16"
        a = np.array(a)
    a = np.asarray(a)
    name = "bfloat16" if a.dtype.name == "bfloat16" else a.dtype.name
    if name not in _STORAGE:
        raise InputTypeError(
            f"cannot write dtype {a.dtype} to safetensors; writable dtypes are: {', '.join(_CODE_OF)}"
        )
    if name == "bfloat16":
        a = a.view(np.uint16)
    a = np.ascontiguousarray(a, dtype=_STORAGE[name])
    return a, name


class SafetensorsWriter:
    """Stream tensors into a safetensors file whose header (names, dtypes, shapes, order) is declared up front.

    Memory stays at one tensor: each :meth:`write` goes straight to the file. Tensors must be written in the declared
    order, each exactly once, with the declared dtype and shape (a uint16 array is accepted for a ``"bfloat16"``
    entry: its bit patterns).

    Args:
        f: a binary file opened for writing (the caller owns atomicity, see ``mlxquant._io.atomic_path``).
        specs: ``(name, dtype_name, shape)`` per tensor, in write order.
        metadata: the ``__metadata__`` string map (``{"format": "mlx"}`` for MLX).

    Raises:
        InvalidArgumentError: a duplicate name, an unknown dtype.
    """

    def __init__(self, f: IO[bytes], specs: Sequence[tuple[str, str, Sequence[int]]],
                 metadata: Mapping[str, str] | None = None) -> None:
        header: dict[str, Any] = {}
        if metadata:
            header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
        pos = 0
        self._order: list[tuple[str, str, tuple[int, ...], int]] = []
        for name, dtype, shape in specs:
            if name in header or name == "__metadata__":
                raise InvalidArgumentError(f"tensor name collision: {name!r} is declared twice")
            if dtype not in _CODE_OF:
                raise InvalidArgumentError(f"cannot write dtype {dtype!r}; writable dtypes are: {', '.join(_CODE_OF)}")
            shape = tuple(int(s) for s in shape)
            n = math.prod(shape) * _STORAGE[dtype].itemsize
            header[name] = {"dtype": _CODE_OF[dtype], "shape": list(shape), "data_offsets": [pos, pos + n]}
            self._order.append((name, dtype, shape, n))
            pos += n
        raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
        raw += b" " * (-len(raw) % 8)  # the reference writer pads the header with spaces to 8-byte alignment
        self._f = f
        self._next = 0
        self.data_bytes = pos
        self.total_bytes = 8 + len(raw) + pos
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)

    def write(self, name: str, array: Any) -> None:
        """Write the next declared tensor."""
        if self._next >= len(self._order):
            raise InvalidArgumentError(f"tensor {name!r} was not declared (all declared tensors are written)")
        want_name, dtype, shape, n = self._order[self._next]
        if name != want_name:
            raise InvalidArgumentError(
                f"tensors must be written in declared order: expected {want_name!r}, got {name!r}"
            )
        a, got = _as_numpy_for_write(array)
        if got != dtype and not (dtype == "bfloat16" and got == "uint16"):
            raise InputTypeError(f"tensor {name!r} was declared {dtype}, got {got}")
        if tuple(a.shape) != shape:
            raise InvalidArgumentError(f"tensor {name!r} was declared with shape {shape}, got {tuple(a.shape)}")
        if n:
            self._f.write(memoryview(a.reshape(-1)).cast("B"))
        self._next += 1

    def write_chunks(self, name: str, chunks: Iterable[Any]) -> None:
        """Write the next declared tensor from consecutive row-major pieces (their bytes must add up exactly)."""
        if self._next >= len(self._order):
            raise InvalidArgumentError(f"tensor {name!r} was not declared (all declared tensors are written)")
        want_name, dtype, _, n = self._order[self._next]
        if name != want_name:
            raise InvalidArgumentError(
                f"tensors must be written in declared order: expected {want_name!r}, got {name!r}"
            )
        done = 0
        for c in chunks:
            a, got = _as_numpy_for_write(c)
            if got != dtype and not (dtype == "bfloat16" and got == "uint16"):
                raise InputTypeError(f"tensor {name!r} was declared {dtype}, got {got}")
            if a.size:
                self._f.write(memoryview(a.reshape(-1)).cast("B"))
            done += a.nbytes
        if done != n:
            raise InvalidArgumentError(f"tensor {name!r} needs {n} bytes, {done} were written")
        self._next += 1

    def close(self) -> None:
        """Check that every declared tensor was written."""
        if self._next != len(self._order):
            missing = [o[0] for o in self._order[self._next:]]
            raise InvalidArgumentError(f"{len(missing)} declared tensors were never written, e.g. {missing[:3]}")


def write_safetensors(path: str | os.PathLike[str], tensors: Mapping[str, Any],
                      *, metadata: Mapping[str, str] | None = None) -> None:
    """Write NumPy or MLX arrays to a safetensors file, atomically (a temporary sibling renamed into place).

    ``mx.load`` and ``safetensors.numpy.load_file`` read the result. bfloat16 comes from MLX arrays or NumPy arrays
    with the ``ml_dtypes`` bfloat16 dtype. An existing file at ``path`` is replaced.

    Args:
        path: output file.
        tensors: name → array, written in this order.
        metadata: the ``__metadata__`` string map.

    Raises:
        InputTypeError: a dtype safetensors cannot hold.

    Example:
        >>> import numpy as np, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "x.safetensors")
        >>> write_safetensors(p, {"x": np.zeros((2, 2), np.float32)}, metadata={"format": "mlx"})
        >>> os.path.getsize(p) % 8
        0
    """
    from ._io import atomic_path

    arrays = {k: _as_numpy_for_write(v) for k, v in tensors.items()}
    specs = [(k, dt, a.shape) for k, (a, dt) in arrays.items()]
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        w = SafetensorsWriter(f, specs, metadata)
        for k, (a, _) in arrays.items():
            w.write(k, a)
        w.close()

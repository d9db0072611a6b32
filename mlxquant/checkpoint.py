"""The streaming checkpoint quantizer: safetensors / npz in, MLX-loadable quantized safetensors out.

:func:`quantize_checkpoint` reads a checkpoint tensor by tensor (``np.memmap`` at the file offsets), quantizes the
linear weights with :func:`mlxquant.mlx_quantize` and streams every output tensor straight into the output file, so
peak memory stays near a few copies of the largest single tensor, not the checkpoint. The output is what ``mlx-lm``
writes: ``<module>.weight`` (uint32 codes), ``<module>.scales``, ``<module>.biases`` (affine only) and every other
tensor unchanged, plus ``config.json`` with ``"quantization": {"group_size", "bits", "mode", <module path>: {...}}``.

Everything is planned before anything is written (names, shapes, dtypes, bits, group sizes and the output size), so a
bad input, a name collision, a non-divisible width under ``width_policy="error"`` or a full disk stop the job before
the first byte is written; the output folder appears atomically (a temporary sibling renamed into place) and no
half-written output is left behind on any error or interrupt.
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._checks import check_choice
from ._errors import AlreadyQuantizedError, InvalidArgumentError, ModelFormatError
from .checkpoint_io import (
    TensorInfo,
    checkpoint_files,
    float32_to_bf16_bits,
    list_tensors,
)
from .quant.formats import MLX_MODES

__all__ = [
    "CHECKPOINT_WIDTH_POLICIES",
    "RECIPES",
    "QuantizeReport",
    "TensorPlan",
    "format_report",
    "parse_rule",
    "plan_checkpoint",
    "quantize_checkpoint",
]

#: mlx-lm's mixed recipes: name → (low bits, high bits) (mlx_lm/convert.py ``mixed_quant_predicate_builder``).
RECIPES = {"mixed_2_6": (2, 6), "mixed_3_4": (3, 4), "mixed_3_6": (3, 6), "mixed_4_6": (4, 6)}

#: What the checkpoint quantizer does with a weight whose width is not a multiple of the group size.
CHECKPOINT_WIDTH_POLICIES = ("error", "skip", "fallback")

_WEIGHT_FILE = "model.safetensors"
# Rows are read and quantized in chunks of about this many bytes: peak memory is a few chunks plus the (small)
# packed outputs of the largest tensor, not a few copies of the largest tensor.
_CHUNK_BYTES = 16 << 20
_REPORT_FILE = "quantize_report.json"
_NORM = re.compile(r"(^|[._])(norm|layernorm|rmsnorm|ln_f|ln_\d+|ln)([._]|$)|norm", re.IGNORECASE)
_EMBED = re.compile(r"(embed|(^|\.)wte$|(^|\.)wpe$)", re.IGNORECASE)
_FLOATS = ("float32", "float16", "bfloat16", "float64")


@dataclass
class TensorPlan:
    """What happens to one input tensor (see :func:`plan_checkpoint`)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    bytes_in: int
    action: str  # "quantize" or "keep"
    reason: str = ""
    bits: int | None = None
    group_size: int | None = None
    mode: str | None = None
    outputs: list[tuple[str, str, tuple[int, ...]]] = field(default_factory=list)

    @property
    def module(self) -> str:
        return self.name[: -len(".weight")] if self.name.endswith(".weight") else self.name

    @property
    def bytes_out(self) -> int:
        from .checkpoint_io import _STORAGE

        return sum(math.prod(s) * _STORAGE[d].itemsize for _, d, s in self.outputs)


@dataclass
class QuantizeReport:
    """The result of :func:`quantize_checkpoint`: one row per input tensor plus totals."""

    rows: list[dict[str, Any]]
    bytes_in: int
    bytes_out: int
    seconds: float
    output: str
    config: dict[str, Any]

    @property
    def compression(self) -> float:
        """bytes_in / bytes_out of the tensors."""
        return self.bytes_in / self.bytes_out if self.bytes_out else float("inf")

    def to_json(self) -> dict[str, Any]:
        """A strict-JSON dict (an infinite SQNR — an exact round trip — becomes the string "inf")."""
        rows = [{k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
                for r in self.rows]
        return {
            "output": self.output,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "compression": self.compression,
            "seconds": self.seconds,
            "input_gb_per_s": self.bytes_in / self.seconds / 1e9 if self.seconds > 0 else None,
            "quantization": self.config.get("quantization"),
            "tensors": rows,
        }


def parse_rule(rule: str) -> tuple[str, int, int | None]:
    """Parse ``PATTERN=BITS[:GROUP]`` (e.g. ``"*.down_proj=6:32"``).

    Raises:
        InvalidArgumentError: a malformed rule.

    Example:
        >>> parse_rule("*.v_proj=6"), parse_rule("lm_head=8:128")
        (('*.v_proj', 6, None), ('lm_head', 8, 128))
    """
    pat, sep, spec = rule.rpartition("=")
    try:
        if not sep or not pat:
            raise ValueError
        bits_s, _, group_s = spec.partition(":")
        return pat, int(bits_s), (int(group_s) if group_s else None)
    except ValueError:
        raise InvalidArgumentError(f"invalid rule {rule!r}; expected PATTERN=BITS or PATTERN=BITS:GROUP") from None


def _match(pattern: str, module: str, name: str) -> bool:
    return fnmatch.fnmatchcase(module, pattern) or fnmatch.fnmatchcase(name, pattern)


def _layer_index_fn(infos: Sequence[TensorInfo]) -> tuple[Any, int]:
    """mlx-lm's layer index: the position of the first numeric component of the first down_proj path."""
    down = [t.name for t in infos if "down_proj" in t.name]
    if not down:
        raise InvalidArgumentError("the mixed recipes need a model with 'down_proj' layers (as mlx-lm requires)")
    parts = down[0].split(".")
    loc = next((i for i, p in enumerate(parts) if p.isdigit()), len(parts))
    indices = set()
    for t in infos:
        p = t.name.split(".")
        if len(p) > loc and p[loc].isdigit():
            indices.add(int(p[loc]))
    num_layers = max(indices) + 1 if indices else 0

    def index(path: str) -> int:
        p = path.split(".")
        return int(p[loc]) if len(p) > loc and p[loc].isdigit() else 0

    return index, num_layers


def _recipe_bits(recipe: str, path: str, index: Any, num_layers: int) -> int:
    """mlx-lm ``mixed_quant_predicate``: more bits for v_proj / down_proj in the first and last eighth of the layers
    and every third layer between, and for lm_head."""
    low, high = RECIPES[recipe]
    i = index(path)
    use_more_bits = i < num_layers // 8 or i >= 7 * num_layers // 8 or (i - num_layers // 8) % 3 == 2
    if ("v_proj" in path or "v_a_proj" in path or "v_b_proj" in path) and use_more_bits:
        return high
    if "down_proj" in path and use_more_bits:
        return high
    if "lm_head" in path:
        return high
    return low


def _quantized_outputs(name: str, module: str, dtype: str, shape: tuple[int, ...], bits: int, g: int,
                       mode: str) -> list[tuple[str, str, tuple[int, ...]]]:
    width = shape[-1]
    lead = shape[:-1]
    sdt = dtype if dtype != "float64" else "float32"
    out = [(name, "uint32", (*lead, width * bits // 32))]
    if mode == "affine":
        out += [(f"{module}.scales", sdt, (*lead, width // g)), (f"{module}.biases", sdt, (*lead, width // g))]
    else:
        out += [(f"{module}.scales", "uint8", (*lead, width // g))]
    return out


def plan_checkpoint(
    src: str | os.PathLike[str],
    *,
    bits: int | None = None,
    group_size: int | None = None,
    mode: str = "affine",
    recipe: str | None = None,
    skip: Sequence[str] = (),
    rules: Sequence[str | tuple[str, int, int | None]] = (),
    quantize_embeddings: bool = False,
    quantize_lm_head: bool = False,
    width_policy: str = "error",
) -> list[TensorPlan]:
    """Decide, from the headers only, what happens to every tensor (no tensor data is read).

    Default rules: quantize floating ``*.weight`` tensors with 2 dimensions (3 for MoE ``switch_mlp`` / ``experts``);
    keep 1-D tensors, norms, integer tensors; keep embeddings and ``lm_head`` unless asked. ``bits`` /
    ``group_size`` ``None`` mean the mode's defaults (affine 4 / 64, mxfp4 4 / 32, mxfp8 8 / 32, nvfp4 4 / 16, as
    ``mx.quantize``). ``skip`` patterns
    (fnmatch globs on the module path or tensor name) always keep a tensor; ``rules`` (``PATTERN=BITS[:GROUP]``, the
    first matching rule wins) set bits / group size per module and also select modules that would be kept by
    default (embeddings, lm_head). A recipe (``mixed_2_6`` / ``mixed_3_4`` / ``mixed_3_6`` / ``mixed_4_6``) sets the
    bits of every quantized module as mlx-lm does; rules still override it.

    Raises:
        ModelFormatError: unreadable checkpoint, unknown dtype, a name collision in the output.
        AlreadyQuantizedError: the checkpoint already holds packed weights (``*.scales`` next to a uint32 weight).
        InvalidArgumentError: bad bits / group / mode / recipe / rule / policy.
        ShapeError: a width not divisible by the group size under ``width_policy="error"`` (all offenders listed).
    """
    from ._errors import ShapeError
    from .quant.formats.mlx import _params, resolve_group_size

    check_choice("mode", mode, MLX_MODES)
    check_choice("width_policy", width_policy, CHECKPOINT_WIDTH_POLICIES)
    g0, b0 = _params(mode, group_size, bits)
    if recipe is not None:
        check_choice("recipe", recipe, RECIPES)
        if mode != "affine":
            raise InvalidArgumentError(f"the mixed recipes use mode 'affine' (as mlx-lm), got mode {mode!r}")
    parsed_rules = [parse_rule(r) if isinstance(r, str) else tuple(r) for r in rules]
    for _, rb, rg in parsed_rules:
        _params(mode, rg if rg is not None else g0, rb)
    infos = list_tensors(src)
    names = {t.name for t in infos}
    index, num_layers = _layer_index_fn(infos) if recipe else (None, 0)
    plans: list[TensorPlan] = []
    bad_width: list[str] = []
    for t in infos:
        p = TensorPlan(t.name, t.dtype, t.shape, t.nbytes, "keep")
        plans.append(p)
        module = p.module
        if t.dtype == "uint32" and f"{module}.scales" in names:
            raise AlreadyQuantizedError(
                f"{t.name!r} is uint32 with {module + '.scales'!r} beside it: this checkpoint is already quantized"
            )
        if t.dtype not in (*_FLOATS, "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool"):
            raise ModelFormatError(f"tensor {t.name!r} has dtype {t.dtype!r}, which mlxquant cannot read or copy")
        rule = next(((rb, rg) for pat, rb, rg in parsed_rules if _match(pat, module, t.name)), None)
        if any(_match(s, module, t.name) for s in skip):
            p.reason = "--skip"
        elif t.dtype not in _FLOATS:
            p.reason = f"{t.dtype} tensor"
        elif not t.name.endswith(".weight"):
            p.reason = "not a .weight"
        elif len(t.shape) < 2:
            p.reason = "1-D"
        elif _NORM.search(module):
            p.reason = "norm"
        elif len(t.shape) > 2 and not ("switch_mlp" in module or "experts" in module) and rule is None:
            p.reason = f"{len(t.shape)}-D (not a linear weight)"
        elif _EMBED.search(module) and not quantize_embeddings and rule is None:
            p.reason = "embedding (--quantize-embeddings to quantize)"
        elif "lm_head" in module and not quantize_lm_head and rule is None:
            p.reason = "lm_head (--quantize-lm-head to quantize)"
        else:
            nb = _recipe_bits(recipe, module, index, num_layers) if recipe else b0
            g = g0
            if rule is not None:
                nb, g = rule[0], (rule[1] if rule[1] is not None else g0)
            width = t.shape[-1]
            if width % g:
                if width_policy == "skip":
                    p.reason = f"width {width} not divisible by group {g} (--width-policy skip)"
                    continue
                if width_policy == "error":
                    bad_width.append(f"{t.name} {t.shape}")
                    continue
                try:
                    g = resolve_group_size(width, g, mode)
                except ShapeError:
                    raise ShapeError(
                        f"{t.name} {t.shape}: width {width} is not divisible by any {mode} group size <= {g}; "
                        "use --width-policy skip (keep it in float) or --skip it"
                    ) from None
            p.action, p.bits, p.group_size, p.mode = "quantize", nb, g, mode
    if bad_width:
        raise ShapeError(
            f"{len(bad_width)} weights have a width not divisible by the group size {g0}: "
            f"{', '.join(bad_width[:6])}{' ...' if len(bad_width) > 6 else ''}; choose --width-policy skip (keep them "
            "in float) or fallback (a smaller group size), or --skip them"
        )
    seen: dict[str, str] = {}
    for p in plans:
        if p.action == "quantize":
            p.outputs = _quantized_outputs(p.name, p.module, p.dtype, p.shape, p.bits, p.group_size, p.mode)
        else:
            p.outputs = [(p.name, p.dtype, p.shape)]
        for out_name, _, _ in p.outputs:
            if out_name in seen:
                raise ModelFormatError(
                    f"tensor name collision: output {out_name!r} of {p.name!r} is also written for {seen[out_name]!r}"
                )
            seen[out_name] = p.name
    return plans


def _pick_backend(backend: str) -> str:
    check_choice("backend", backend, ("auto", "numpy", "mlx"))
    if backend != "auto":
        return backend
    try:
        import mlx.core  # noqa: F401

        return "mlx"
    except ImportError:  # pragma: no cover - MLX is a dependency on Linux and macOS
        return "numpy"


def _quantize_one(p: TensorPlan, w32: np.ndarray, backend: str) -> tuple[list[Any], float, float, float]:
    """Quantize float32 rows (an exact widening of the source dtype).

    Returns the outputs (NumPy: uint32 codes, scales, [biases]; bfloat16 as uint16 bits), Σw², Σ(w - ŵ)² and
    max |w - ŵ| of these rows (the error is measured against the float32 dequantization).
    """
    from .quant.formats.mlx import mlx_dequantize, mlx_quantize

    if backend == "mlx":
        import mlx.core as mx

        x = mx.array(w32)
        src = x.astype(getattr(mx, p.dtype)) if p.dtype in ("float16", "bfloat16") else x  # exact
        wq, scales, biases = mlx_quantize(src, p.group_size, p.bits, p.mode)
        f32 = {"scales": scales.astype(mx.float32) if p.mode == "affine" else scales,
               "biases": biases.astype(mx.float32) if biases is not None else None}
        wh = mlx_dequantize(wq, f32["scales"], f32["biases"], p.group_size, p.bits, p.mode, dtype="float32")
        err = mx.abs(wh - x)
        num = float(mx.sum(mx.square(x)).item())
        den = float(mx.sum(mx.square(err)).item())
        max_err = float(mx.max(err).item()) if err.size else 0.0
        outs = [np.array(wq), _mx_out(scales)] + ([_mx_out(biases)] if biases is not None else [])
        return outs, num, den, max_err
    src = w32.astype(np.float16) if p.dtype == "float16" else w32
    if p.mode != "affine" and p.dtype == "bfloat16":  # microscaling scales are computed in the weight dtype
        try:
            import ml_dtypes
        except ImportError:
            raise InvalidArgumentError(
                f"mode {p.mode!r} on bfloat16 weights computes its scales in bfloat16: use backend 'mlx' (or "
                "'auto'), or install ml_dtypes for the NumPy backend"
            ) from None
        src = w32.astype(ml_dtypes.bfloat16)  # exact: the values came from bfloat16
    wq, scales, biases = mlx_quantize(src, p.group_size, p.bits, p.mode)
    s32 = scales.astype(np.float32) if p.mode == "affine" else scales
    b32 = biases.astype(np.float32) if biases is not None else None
    wh = np.asarray(mlx_dequantize(wq, s32, b32, p.group_size, p.bits, p.mode, dtype="float32"), dtype=np.float32)
    np.subtract(wh, w32, out=wh)
    num = float(np.einsum("ij,ij->", w32, w32, dtype=np.float64)) if w32.size else 0.0
    den = float(np.einsum("ij,ij->", wh, wh, dtype=np.float64)) if wh.size else 0.0
    max_err = float(np.max(np.abs(wh))) if wh.size else 0.0
    outs = [wq, _np_out(scales, p.dtype)] + ([_np_out(biases, p.dtype)] if biases is not None else [])
    return outs, num, den, max_err


def _quantize_streamed(p: TensorPlan, info: TensorInfo, backend: str, chunk_bytes: int) -> tuple[list, float, float]:
    """Quantize one tensor chunk by chunk of rows; returns the outputs (shaped as planned), SQNR dB, max |error|."""
    from .checkpoint_io import iter_row_chunks

    parts: list[list[np.ndarray]] = []
    num = den = 0.0
    max_err = 0.0
    for rows in iter_row_chunks(info, chunk_bytes):
        outs, n_, d_, m_ = _quantize_one(p, np.ascontiguousarray(rows, dtype=np.float32), backend)
        parts.append(outs)
        num, den, max_err = num + n_, den + d_, max(max_err, m_)
    outs = []
    for k, (_, _, shape) in enumerate(p.outputs):
        arr = np.concatenate([c[k] for c in parts], axis=0) if len(parts) > 1 else parts[0][k]
        outs.append(arr.reshape(shape))
    sqnr = float("inf") if den == 0 else (10 * math.log10(num / den) if num > 0 else float("-inf"))
    return outs, sqnr, max_err


def _mx_out(a: Any) -> np.ndarray:
    import mlx.core as mx

    if a.dtype == mx.bfloat16:
        return np.array(a.view(mx.uint16))
    return np.array(a)


def _np_out(a: np.ndarray, dtype: str) -> np.ndarray:
    if a.dtype == np.uint8:  # microscaling scale codes
        return a
    if dtype == "bfloat16":  # scales were computed from the float32 widening; MLX rounds them to bf16 (RNE)
        return float32_to_bf16_bits(a.astype(np.float32))
    return a


# The small files of a model folder that travel with the weights (config, tokenizer, chat template, custom code),
# as mlx-lm copies them; anything else (other weight formats, images, archives) stays behind.
_EXTRA_SUFFIXES = (".json", ".txt", ".model", ".tiktoken", ".jinja", ".py")


def _extra_files(src: Path) -> list[Path]:
    """Non-weight files of a checkpoint folder (config, tokenizer, ...), copied to the output unchanged."""
    folder = src if src.is_dir() else src.parent
    if not src.is_dir() and not (folder / "config.json").exists():
        return []
    weights = {p.resolve() for p in checkpoint_files(src)}
    out = []
    for f in sorted(folder.iterdir()):
        if not f.is_file() or f.resolve() in weights or f.name.endswith(".index.json") or f.name == _REPORT_FILE:
            continue
        if f.suffix in _EXTRA_SUFFIXES:
            out.append(f)
    return out


def quantize_checkpoint(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    bits: int | None = None,
    group_size: int | None = None,
    mode: str = "affine",
    recipe: str | None = None,
    skip: Sequence[str] = (),
    rules: Sequence[str | tuple[str, int, int | None]] = (),
    quantize_embeddings: bool = False,
    quantize_lm_head: bool = False,
    width_policy: str = "error",
    force: bool = False,
    backend: str = "auto",
    progress: bool | None = None,
) -> QuantizeReport:
    """Quantize a safetensors / npz checkpoint into an MLX / mlx-lm loadable folder, streaming tensor by tensor.

    Args:
        src: a ``.safetensors`` file, a ``*.safetensors.index.json``, a ``.npz`` file or a folder holding them.
        dst: output folder (``model.safetensors``, ``config.json``, the source's other small files such as the
            tokenizer, and ``quantize_report.json``).
        bits: default bits (affine: 1, 2, 3, 4, 5, 6, 8); ``None`` → the mode's default (affine 4, mxfp8 8, else 4).
        group_size: default group size (affine: 32, 64, 128); ``None`` → the mode's default (affine 64, mxfp4 /
            mxfp8 32, nvfp4 16).
        mode: ``"affine"``, ``"mxfp4"``, ``"mxfp8"`` or ``"nvfp4"``.
        recipe: ``"mixed_2_6"``, ``"mixed_3_4"``, ``"mixed_3_6"`` or ``"mixed_4_6"`` (mlx-lm's mixed recipes).
        skip: fnmatch patterns of modules / tensors to keep in float.
        rules: ``"PATTERN=BITS[:GROUP]"`` per-module overrides (first match wins).
        quantize_embeddings: also quantize embedding tables.
        quantize_lm_head: also quantize ``lm_head``.
        width_policy: a width not divisible by the group size: ``"error"`` (default; the job stops before writing
            and lists every offender), ``"skip"`` (keep in float, reported), ``"fallback"`` (the largest valid group
            size that divides the width; recorded as a per-layer override in config.json).
        force: replace an existing ``dst``.
        backend: ``"auto"`` (MLX when importable, else NumPy), ``"numpy"`` or ``"mlx"``. The results are identical.
        progress: draw a progress bar on stderr (default: when stderr is a terminal).

    Returns:
        A :class:`QuantizeReport` (also written to ``dst/quantize_report.json``).

    Raises:
        InvalidArgumentError: ``dst`` exists and not ``force``; bad options; not enough free disk space.
        ModelFormatError: unreadable or truncated input, unknown dtype, a tensor name collision.
        AlreadyQuantizedError: the input is already quantized.
        ShapeError: non-divisible widths under ``width_policy="error"``.

    Example:
        >>> import numpy as np, os, tempfile
        >>> from mlxquant.checkpoint_io import write_safetensors
        >>> d = tempfile.mkdtemp()
        >>> w = np.random.default_rng(0).standard_normal((64, 128)).astype(np.float32)
        >>> write_safetensors(os.path.join(d, "in.safetensors"), {"l.weight": w, "l.bias": np.zeros(64, np.float32)})
        >>> r = quantize_checkpoint(os.path.join(d, "in.safetensors"), os.path.join(d, "out"), backend="numpy")
        >>> sorted(os.listdir(os.path.join(d, "out")))
        ['config.json', 'model.safetensors', 'quantize_report.json']
        >>> [(row["name"], row["action"], row["bits"]) for row in r.rows]
        [('l.weight', 'quantize', 4), ('l.bias', 'keep', None)]
    """
    from ._io import atomic_dir
    from ._progress import progress as progress_bar
    from .checkpoint_io import SafetensorsWriter, iter_row_chunks

    src_p, dst_p = Path(src), Path(dst)
    if dst_p.exists() and not force:
        raise InvalidArgumentError(f"output {str(dst_p)!r} already exists; pass --force (force=True) to overwrite it")
    if not dst_p.parent.exists():
        raise InvalidArgumentError(f"the folder of output {str(dst_p)!r} does not exist")
    src_r, dst_r = src_p.resolve(), dst_p.resolve()
    if dst_r == src_r or dst_r in src_r.parents:  # replacing OUT would delete the input model
        raise InvalidArgumentError(f"the output {str(dst_p)!r} is, or holds, the input {str(src_p)!r}")
    be = _pick_backend(backend)
    check_choice("mode", mode, MLX_MODES)
    from .quant.formats.mlx import _params

    group_size, bits = _params(mode, group_size, bits)  # None → the mode's defaults
    plans = plan_checkpoint(src_p, bits=bits, group_size=group_size, mode=mode, recipe=recipe, skip=skip,
                            rules=rules, quantize_embeddings=quantize_embeddings, quantize_lm_head=quantize_lm_head,
                            width_policy=width_policy)
    extras = _extra_files(src_p)
    specs = [o for p in plans for o in p.outputs]
    estimate = sum(p.bytes_out for p in plans) + sum(f.stat().st_size for f in extras) + (1 << 20)
    free = shutil.disk_usage(dst_p.parent).free
    if free < estimate:
        raise InvalidArgumentError(
            f"not enough disk space in {str(dst_p.parent)!r}: the output needs about {estimate / 1e9:.2f} GB, "
            f"{free / 1e9:.2f} GB are free"
        )
    # config.json: the source's (if any) with mlx-lm's quantization entry
    cfg_src = (src_p if src_p.is_dir() else src_p.parent) / "config.json"
    config: dict[str, Any] = {}
    if cfg_src.exists() and (src_p.is_dir() or cfg_src in extras):
        try:
            config = json.loads(cfg_src.read_text(encoding="utf-8"))
        except ValueError as e:
            raise ModelFormatError(f"cannot read {str(cfg_src)!r}: {e}") from None
    g_def, b_def = group_size, bits
    quant: dict[str, Any] = {"group_size": g_def, "bits": b_def, "mode": mode}
    for p in plans:
        if p.action == "quantize" and (p.bits, p.group_size) != (b_def, g_def):
            quant[p.module] = {"group_size": p.group_size, "bits": p.bits, "mode": p.mode}
    config["quantization"] = quant
    config["quantization_config"] = quant  # mlx-lm writes both keys

    rows: list[dict[str, Any]] = []
    infos = {t.name: t for t in list_tensors(src_p)}
    t0 = time.perf_counter()
    with atomic_dir(dst_p, force=force) as tmp:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes the folder private; the output is an ordinary folder
        with open(tmp / _WEIGHT_FILE, "wb") as f:
            writer = SafetensorsWriter(f, specs, {"format": "mlx"})
            for p in progress_bar(plans, desc="quantize-weights", enable=progress):
                row: dict[str, Any] = {"name": p.name, "shape": list(p.shape), "dtype": p.dtype, "action": p.action,
                                       "bits": p.bits, "group_size": p.group_size, "mode": p.mode,
                                       "sqnr_db": None, "max_abs_err": None, "bytes_in": p.bytes_in,
                                       "bytes_out": p.bytes_out, "reason": p.reason}
                info = infos[p.name]
                if p.action == "keep":
                    writer.write_chunks(p.name, iter_row_chunks(info, _CHUNK_BYTES, raw=True))
                else:
                    outs, sqnr, max_err = _quantize_streamed(p, info, be, _CHUNK_BYTES)
                    for (out_name, _, _), arr in zip(p.outputs, outs, strict=True):
                        writer.write(out_name, arr)
                    del outs
                    row["sqnr_db"], row["max_abs_err"] = sqnr, max_err
                rows.append(row)
            writer.close()
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        for extra in extras:
            if extra.name != "config.json":
                shutil.copy2(extra, tmp / extra.name)
        seconds = time.perf_counter() - t0
        report = QuantizeReport(rows, sum(p.bytes_in for p in plans), sum(p.bytes_out for p in plans), seconds,
                                str(dst_p), config)
        (tmp / _REPORT_FILE).write_text(
            json.dumps(report.to_json(), indent=2, default=_json_default, allow_nan=False) + "\n", encoding="utf-8"
        )
    return report


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def format_report(report: QuantizeReport, *, max_rows: int | None = None) -> str:
    """The per-tensor table (shape, bits, group, SQNR dB, max abs error, bytes before / after) and the totals."""
    head = f"{'tensor':<48} {'shape':<16} {'bits':>4} {'group':>5} {'SQNR dB':>8} {'max err':>10} " \
           f"{'bytes in':>12} {'bytes out':>12}"
    lines = [head, "-" * len(head)]
    rows = report.rows if max_rows is None else report.rows[:max_rows]
    for r in rows:
        name = r["name"] if len(r["name"]) <= 48 else "…" + r["name"][-47:]
        shape = "x".join(map(str, r["shape"])) or "()"
        if r["action"] == "quantize":
            sq = "inf" if r["sqnr_db"] == float("inf") else f"{r['sqnr_db']:.2f}"
            lines.append(f"{name:<48} {shape:<16} {r['bits']:>4} {r['group_size']:>5} {sq:>8} "
                         f"{r['max_abs_err']:>10.3g} {r['bytes_in']:>12,} {r['bytes_out']:>12,}")
        else:
            lines.append(f"{name:<48} {shape:<16} {'-':>4} {'-':>5} {'kept':>8} {r['reason'][:10]:>10} "
                         f"{r['bytes_in']:>12,} {r['bytes_out']:>12,}")
    if max_rows is not None and len(report.rows) > max_rows:
        lines.append(f"... {len(report.rows) - max_rows} more rows in {_REPORT_FILE}")
    nq = sum(r["action"] == "quantize" for r in report.rows)
    rate = report.bytes_in / report.seconds / 1e9 if report.seconds > 0 else float("inf")
    lines.append("-" * len(head))
    lines.append(f"{nq} of {len(report.rows)} tensors quantized; {report.bytes_in:,} → {report.bytes_out:,} bytes, "
                 f"compression {report.compression:.2f}x; {report.seconds:.2f} s ({rate:.2f} GB/s input)")
    return "\n".join(lines)

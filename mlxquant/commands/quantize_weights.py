"""``mlxquant quantize-weights IN OUT``: quantize a safetensors / npz checkpoint into an MLX-loadable folder."""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]

HELP = "quantize a safetensors/npz checkpoint to MLX's format (streaming, mlx-lm loadable)"
DESCRIPTION = """Quantize the linear weights of a checkpoint to MLX's packed format, tensor by tensor.

IN is a .safetensors file, a *.safetensors.index.json, a .npz file or a folder holding them (fp32, fp16, bf16).
OUT is a new folder: model.safetensors (<module>.weight uint32, .scales, .biases; other tensors unchanged),
config.json with the "quantization" entry (mlx-lm), the source's tokenizer/config files, quantize_report.json.

Default skips: 1-D tensors, norms, non-float tensors; embeddings and lm_head unless asked.
Examples:
  mlxquant quantize-weights model/ out/ --bits 4 --group-size 64
  mlxquant quantize-weights model/ out/ --recipe mixed_4_6 --quantize-lm-head
  mlxquant quantize-weights model/ out/ --skip '*.mlp.gate' --rule '*.down_proj=6' --rule 'lm_head=8:128'
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Register the options of ``quantize-weights``."""
    from ..checkpoint import CHECKPOINT_WIDTH_POLICIES, RECIPES
    from ..quant.formats import MLX_MODES

    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("input", metavar="IN", help="checkpoint: .safetensors, *.safetensors.index.json, .npz or a folder")
    p.add_argument("output", metavar="OUT", help="output folder (must not exist unless --force)")
    p.add_argument("--bits", type=int, default=None,
                   help="bits per weight (affine: 1,2,3,4,5,6,8; default: the mode's)")
    p.add_argument("--group-size", type=int, default=None, help="values per group (affine: 32,64,128; default 64)")
    p.add_argument("--mode", choices=list(MLX_MODES), default="affine", help="quantization mode (default affine)")
    p.add_argument("--recipe", choices=list(RECIPES), default=None, help="mlx-lm mixed-precision recipe")
    p.add_argument("--skip", action="append", default=[], metavar="PATTERN",
                   help="keep modules/tensors matching this glob in float (repeatable)")
    p.add_argument("--rule", action="append", default=[], metavar="PATTERN=BITS[:GROUP]",
                   help="per-module bits/group override, first match wins (repeatable)")
    p.add_argument("--quantize-embeddings", action="store_true", help="also quantize embedding tables")
    p.add_argument("--quantize-lm-head", action="store_true", help="also quantize lm_head")
    p.add_argument("--width-policy", choices=list(CHECKPOINT_WIDTH_POLICIES), default="error",
                   help="widths not divisible by the group size: error (default), skip (keep float), fallback "
                        "(smaller group)")
    p.add_argument("--backend", choices=["auto", "numpy", "mlx"], default="auto", help="compute backend")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.add_argument("--dry-run", action="store_true", help="print the plan (what would be quantized) and exit")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--max-rows", type=int, default=200, help="rows of the table to print (all are in the JSON)")


def run(args: argparse.Namespace) -> int:
    """Run ``quantize-weights``; returns the exit code."""
    from ..checkpoint import format_report, plan_checkpoint, quantize_checkpoint
    from ..quant.formats import MLX_MODES

    dg, db = MLX_MODES[args.mode][0], MLX_MODES[args.mode][1]
    bits = args.bits if args.bits is not None else db
    group = args.group_size if args.group_size is not None else dg
    common = dict(bits=bits, group_size=group, mode=args.mode, recipe=args.recipe, skip=args.skip, rules=args.rule,
                  quantize_embeddings=args.quantize_embeddings, quantize_lm_head=args.quantize_lm_head,
                  width_policy=args.width_policy)
    if args.dry_run:
        plans = plan_checkpoint(args.input, **common)
        for p in plans:
            what = f"{p.bits}-bit g{p.group_size}" if p.action == "quantize" else f"keep ({p.reason})"
            print(f"{p.name:<60} {'x'.join(map(str, p.shape)):<16} {what}")
        bi, bo = sum(p.bytes_in for p in plans), sum(p.bytes_out for p in plans)
        print(f"{sum(p.action == 'quantize' for p in plans)} of {len(plans)} tensors would be quantized; "
              f"{bi:,} → {bo:,} bytes ({bi / bo if bo else float('inf'):.2f}x)")
        return 0
    report = quantize_checkpoint(args.input, args.output, force=args.force, backend=args.backend,
                                 progress=False if args.no_progress else None, **common)
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2, default=float, allow_nan=False)
        print()
    else:
        print(format_report(report, max_rows=args.max_rows))
        print(f"wrote {args.output} (report: {args.output}/quantize_report.json)")
    return 0

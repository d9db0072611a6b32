"""``mlxquant analyze CHECKPOINT``: per-tensor quantization error under candidate schemes, a mixed-precision plan
and a PNG plot of error against bits per weight."""

from __future__ import annotations

import argparse
import json

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]

HELP = "quantization sensitivity of a checkpoint's tensors, a mixed-precision plan and a plot"
DESCRIPTION = (
    "Quantize and dequantize every float tensor (2-D and up) of a checkpoint (.safetensors, a sharded index, a "
    "folder or .npz; one tensor in memory at a time) under each candidate scheme — MLX affine groups at the given "
    "bits and group sizes, per-channel symmetric int4/int8, float16 — and print the SQNR (dB) table. With "
    "--budget-bpw, also print the least-error mixed-precision plan within that average size (side data included). "
    "With --plot, save a PNG of SQNR against bits per weight, one line per tensor."
)


def _ints(s: str) -> list[int]:
    try:
        return [int(v) for v in s.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {s!r}") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", metavar="CHECKPOINT",
                   help=".safetensors file, *.safetensors.index.json, folder or .npz")
    p.add_argument("--bits", type=_ints, default=[2, 3, 4, 5, 6, 8],
                   help="affine group bits to try (default 2,3,4,5,6,8)")
    p.add_argument("--group-sizes", type=_ints, default=[64], help="group sizes to try (default 64)")
    p.add_argument("--no-per-channel", action="store_true", help="leave out per-channel symmetric int4/int8")
    p.add_argument("--no-float16", action="store_true", help="leave out float16")
    p.add_argument("--include", default=None, help="only tensors whose name matches this regular expression")
    p.add_argument("--min-size", type=int, default=1024, help="skip tensors with fewer elements (default 1024)")
    p.add_argument("--budget-bpw", type=float, default=None, help="plan a mixed precision within this many bits/weight")
    p.add_argument("--objective", choices=("sse", "relative"), default="sse",
                   help="plan objective: total squared error (sse) or scale-free relative error")
    p.add_argument("--plot", default=None, metavar="PNG", help="save a plot of SQNR vs bits per weight")
    p.add_argument("--json", default=None, metavar="FILE", help="write the table (and plan) as JSON ('-' = stdout)")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")


def run(args: argparse.Namespace) -> int:
    from .._io import atomic_path, check_output_path
    from .._progress import progress
    from ..analysis import Scheme, analyze_sensitivity, plot_sensitivity

    schemes = [Scheme(b, "group", g) for g in args.group_sizes for b in args.bits]
    if not args.no_per_channel:
        schemes += [Scheme(4, "axis", None, True), Scheme(8, "axis", None, True)]
    if not args.no_float16:
        schemes.append(Scheme(16, "float16", None))
    for out in (args.plot, None if args.json in (None, "-") else args.json):
        if out is not None:
            check_output_path(out, force=args.force)
    from ..checkpoint_io import list_tensors

    names = [t.name for t in list_tensors(args.checkpoint)]
    bar = iter(progress(names, desc="analyze"))

    def tick(_name: str) -> None:
        next(bar, None)

    report = analyze_sensitivity(args.checkpoint, schemes, include=args.include, min_size=args.min_size,
                                 progress=tick)
    plan = None
    if args.budget_bpw is not None:
        plan = report.plan(bits_per_weight=args.budget_bpw, objective=args.objective)
    if args.json == "-":
        d = report.to_dict()
        d["plan"] = plan.to_dict() if plan else None
        print(json.dumps(d, indent=2, allow_nan=True))
    else:
        print(report)
        if plan is not None:
            print()
            print(plan)
    if args.json not in (None, "-"):
        d = report.to_dict()
        d["plan"] = plan.to_dict() if plan else None
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(d, indent=2))
    if args.plot is not None:
        plot_sensitivity(report, args.plot)
        print(f"plot written to {args.plot}")
    return 0

"""The ``mlxquant`` command.

Each subcommand lives in ``mlxquant/commands/<name>.py`` and defines ``HELP`` (one line), ``add_arguments(parser)``
and ``run(args) -> int``. Errors print one readable line (the traceback only with ``--debug``) and exit non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import traceback
from collections.abc import Sequence

from ._errors import MlxquantError

__all__ = ["COMMANDS", "main"]

#: Subcommand name → module implementing it.
COMMANDS: dict[str, str] = {
    "demo": "mlxquant.commands.demo",
    "inspect": "mlxquant.commands.inspect",
    "preprocess": "mlxquant.commands.preprocess",
    "run": "mlxquant.commands.run",
    "quantize-weights": "mlxquant.commands.quantize_weights",
    "analyze": "mlxquant.commands.analyze",
}

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="mlxquant",
        description="Quantization, preprocessing and output decoding for on-device ML inference (MLX and NumPy).",
        epilog="Run 'mlxquant COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"mlxquant {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, modname in COMMANDS.items():
        if importlib.util.find_spec(modname) is None:  # a command whose issue has not landed yet
            continue
        mod = importlib.import_module(modname)
        p = sub.add_parser(name, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks")
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mlxquant`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("mlxquant: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (MlxquantError, OSError, ValueError) as e:
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"mlxquant {args.command}: error: {e}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``mlxquant inspect MODEL``: the inputs and outputs of a model, with their quantization parameters."""

from __future__ import annotations

import argparse
import json

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]

HELP = "show a model's inputs and outputs with their quantization parameters (.tflite, .onnx)"
DESCRIPTION = (
    "Show the inputs and outputs of a .tflite or .onnx model: name, shape, dtype and quantization parameters "
    "(scale, zero point, per-axis axis). TFLite parameters come from the model's own tensors; ONNX parameters from "
    "the QuantizeLinear/DequantizeLinear nodes next to the graph's inputs and outputs. Nothing is executed."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="a .tflite or .onnx file")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--weights", action="store_true",
                   help="also list the quantized stored tensors (weights, biases) with their parameters")


def run(args: argparse.Namespace) -> int:
    from ..models import inspect_model

    info = inspect_model(args.model)
    if args.json:
        print(json.dumps(info.to_dict(), indent=2))
    else:
        print(info.table(weights=args.weights))
        if not args.weights and info.weights:
            n_axis = sum(w.per_axis for w in info.weights)
            print(f"weights: {len(info.weights)} quantized tensors ({n_axis} per-axis); --weights lists them")
        if info.labels:
            shown = ", ".join(info.labels[:10]) + (", ..." if len(info.labels) > 10 else "")
            print(f"labels ({len(info.labels)}): {shown}")
    return 0

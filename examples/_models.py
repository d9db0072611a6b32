"""Build the small example models with tools/build_models.py (they are hand-constructed, nothing is downloaded).

A real deployment has its own ``.tflite`` / ``.onnx`` file; these stand in for it so that the examples run offline.
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

__all__ = ["build", "photo"]

ROOT = Path(__file__).resolve().parent.parent


def build() -> Path:
    """Write every example model into a fresh temporary folder and return it."""
    spec = importlib.util.spec_from_file_location("build_models", ROOT / "tools" / "build_models.py")
    bm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bm)
    out = Path(tempfile.mkdtemp(prefix="mlxquant-examples-"))
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        bm.main([str(out)])
    return out


def photo(name: str = "astronaut.jpg") -> Path:
    """A file embedded in mlxquant/data: the photos (public domain / CC0, see its README.txt) or the detector."""
    from importlib.resources import files

    return Path(str(files("mlxquant") / "data" / name))

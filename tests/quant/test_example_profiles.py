"""examples/profiles.py (the README's main job until `mlxquant demo` exists) runs, fast, and prints the tables."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "profiles.py"


def test_profiles_example_runs_fast_and_shows_disagreement() -> None:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, check=True, timeout=60)
    elapsed = time.perf_counter() - t0
    text = out.stdout
    assert "torch             [0, 2, 2, 0, -2]   [2, 2, 4, 0, -2]" in text
    assert "tflite_reference  [1, 2, 3, -1, -3]  [2, 3, 4, 0, -2]" in text
    assert "clipped residual" in text and "*" in text
    assert "1.1920929e-07" in text  # torch's eps scale for all-zero data
    assert elapsed < 15, f"the example took {elapsed:.1f} s (goal: < 5 s on an idle machine)"

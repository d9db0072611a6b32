"""Shared test configuration: Hypothesis profiles and the backend fixture.

The parity suites must *fail*, never skip, when a backend they were asked to test cannot run: ``--backends``
(default ``numpy,mlx``) names the backends that are required.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# CI: bounded, derandomized, no deadline (the machine is shared and noisy). Locally: a few more examples.
settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile("dev", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
# The default is the deterministic CI profile, so the README's test command behaves exactly as CI;
# HYPOTHESIS_PROFILE=dev (random, 100 examples) or =thorough (2000) explore further.
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backends",
        default="numpy,mlx",
        help="comma-separated backends the parity tests require (a listed backend that cannot run fails the run)",
    )


def pytest_configure(config: pytest.Config) -> None:
    wanted = [b for b in config.getoption("--backends").split(",") if b]
    config._mlxquant_backends = wanted  # type: ignore[attr-defined]
    if "mlx" in wanted:
        try:
            import mlx.core as mx

            mx.eval(mx.array([1.0]) + 1)
        except Exception as e:  # a requested backend that cannot run is an error, not a skip
            raise pytest.UsageError(
                f"--backends asks for mlx but MLX cannot run here: {e!r}. Install mlx[cpu] (Linux) or mlx (macOS), "
                "or pass --backends numpy explicitly."
            ) from e


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        names = metafunc.config._mlxquant_backends  # type: ignore[attr-defined]
        metafunc.parametrize("backend", names, ids=[f"backend={n}" for n in names])

"""Output helpers: files are written to a temporary sibling and renamed into place, never half-written."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ._errors import InvalidArgumentError

__all__ = ["atomic_dir", "atomic_path", "check_output_path"]


def check_output_path(path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Refuse to overwrite an existing output unless ``force``; the parent folder must exist."""
    p = Path(path)
    if p.exists() and not force:
        raise InvalidArgumentError(f"output {str(p)!r} already exists; pass --force (force=True) to overwrite it")
    if not p.parent.exists():
        raise InvalidArgumentError(f"the folder of output {str(p)!r} does not exist")
    return p


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, on error remove it."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".partial", dir=p.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, p)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` (``force`` to overwrite)."""
    p = Path(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{p.name}.", suffix=".partial", dir=p.parent))
    try:
        yield tmp
        if p.exists():
            if not force:
                raise InvalidArgumentError(f"output {str(p)!r} already exists; pass --force to overwrite it")
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        os.replace(tmp, p)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

"""A dependency-free progress bar shown only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["progress"]

T = TypeVar("T")


def progress(items: Iterable[T], *, total: int | None = None, desc: str = "", enable: bool | None = None,
             min_items: int = 2) -> Iterator[T]:
    """Iterate ``items``, drawing ``desc [#####.....] k/n  rate/s`` on stderr when it is a terminal.

    Args:
        items: what to iterate.
        total: number of items (taken from ``len(items)`` when possible).
        desc: label.
        enable: force on/off; default: on when stderr is a TTY and there are at least ``min_items`` items.
        min_items: below this many items no bar is drawn.
    """
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    if enable is None:
        enable = sys.stderr.isatty() and (total is None or total >= min_items)
    if not enable:
        yield from items
        return
    start = time.perf_counter()
    width = 30
    k = 0
    for k, item in enumerate(items, 1):
        yield item
        rate = k / max(time.perf_counter() - start, 1e-9)
        if total:
            filled = int(width * k / total)
            bar = "#" * filled + "." * (width - filled)
            sys.stderr.write(f"\r{desc} [{bar}] {k}/{total}  {rate:.1f}/s")
        else:
            sys.stderr.write(f"\r{desc} {k}  {rate:.1f}/s")
        sys.stderr.flush()
    sys.stderr.write("\n")
    sys.stderr.flush()

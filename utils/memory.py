"""Give memory that was freed back to the operating system (glibc's heap, Arrow's pool); a no-op elsewhere.

A panel's load and its evaluation passes free hundreds of megabytes of temporaries in pieces that the allocators keep
for reuse: the resident set then stays at its high-water mark for the rest of the run (one of the changes that
brought benchmarks/panel_scale.py's whole run at a million series within its memory bound, docs/panel-scale.md).
Called after a panel's load and after each evaluation pass; it takes a few milliseconds.
"""
from __future__ import annotations

import ctypes
import sys
from functools import lru_cache
from typing import Any, Optional


@lru_cache(maxsize=1)
def _libc() -> Optional[Any]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")  # glibc's name; musl and others have no malloc_trim
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def release_freed_memory() -> None:
    """Return the freed parts of the C heap and of pyarrow's memory pool (when pyarrow is loaded) to the system."""
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        arrow.default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)

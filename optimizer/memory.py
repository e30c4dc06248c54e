"""Memory of this process: its peak, and how its threads allocate (light: importing it loads nothing of the solver stack)."""

from __future__ import annotations

import ctypes
import resource
import sys
from collections.abc import Callable

M_MMAP_THRESHOLD = -3  # glibc's malloc.h: allocations this large [bytes] or larger get pages of their own
M_ARENA_MAX = -8  # glibc's malloc.h: the most malloc arenas the process's threads may spread over


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far [MB] (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    unit = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit / 2**20


def c_function(name: str) -> Callable[..., int] | None:
    """The C library's function ``name`` in this process, or None where it has none (malloc's tuning is glibc's)."""
    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None


def give_back_free_memory() -> None:
    """Return to the system the whole free pages malloc holds (glibc's ``malloc_trim``; elsewhere nothing is done)."""
    malloc_trim = c_function("malloc_trim")
    if malloc_trim is not None:
        malloc_trim(0)


def keep_malloc_lean(mmap_threshold_bytes: int, arenas: int) -> None:
    """Have glibc's malloc map large arrays apart and spread its threads over few arenas.

    Left alone, glibc raises its mmap threshold (up to 32 MB) each time a mapped block is freed,
    so later large blocks come from its heap, where what is freed stays with the process; and it
    gives each thread that allocates an arena of its own, up to 8 per core. A fixed
    ``mmap_threshold_bytes`` keeps every block at least that large in pages of its own, given
    back when it is freed; ``arenas`` caps the arenas. On the 3-site x 12-model year on price
    blocks (``bench/year.py``), 2 arenas took the peak from 1,772 MB to 1,637 MB and then a 1 MB
    threshold from 1,614 MB to 1,446 MB, neither slower. Elsewhere (macOS, musl) nothing is done.
    """
    mallopt = c_function("mallopt")
    if mallopt is not None:
        # glibc's mallopt answers 1 even to a setting it does not know, so its answer tells nothing
        mallopt(M_MMAP_THRESHOLD, int(mmap_threshold_bytes))
        mallopt(M_ARENA_MAX, int(arenas))

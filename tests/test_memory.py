"""The process-memory helpers: glibc's malloc told to map large arrays apart and to keep few arenas."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# prints the bytes mapped apart for a 2 MB array allocated after an 8 MB one was freed, then the
# arenas malloc_stats lists (on stderr) once 4 threads alive at once have each allocated; ``lean``
# sets malloc's tuning itself, ``solve`` lets solve() set it (solving a one-variable LP), ``plain`` neither
MALLOC_AFTER = textwrap.dedent(
    """
    import ctypes
    import sys
    import threading
    import numpy as np
    from optimizer.memory import keep_malloc_lean

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    libc.malloc.restype = ctypes.c_void_p
    if sys.argv[1] == "lean":
        keep_malloc_lean(2**20, 2)
    if sys.argv[1] == "solve":
        import pyomo.environ as pyo
        from optimizer.case.schema import Solver
        from optimizer.solve import solve

        model = pyo.ConcreteModel()
        model.x = pyo.Var(bounds=(0, 1))
        model.objective = pyo.Objective(expr=model.x, sense=pyo.maximize)
        assert solve(model, Solver()).status == "optimal"
    np.ones(2**20).sum()  # an 8 MB array freed: left alone, glibc raises its mmap threshold to 8 MB
    before = libc.mallinfo2().hblkhd
    held = np.ones(2**18)
    print(libc.mallinfo2().hblkhd - before)
    together = threading.Barrier(4)

    def allocate():
        libc.malloc(64)
        together.wait()  # a thread that ended would hand its arena on to the next

    threads = [threading.Thread(target=allocate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    libc.malloc_stats()
    """
)


# prints RSS [MB] with 3,000 blocks of 64 kB written, after freeing all but the last, and after
# give_back_free_memory: the last block keeps the heap from shrinking by itself
FREED_IN_PIECES = textwrap.dedent(
    """
    import ctypes
    from optimizer.memory import give_back_free_memory

    def rss_mb():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096 / 2**20

    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    blocks = [libc.malloc(65536) for _ in range(3000)]
    for block in blocks:
        ctypes.memset(block, 1, 65536)
    written = rss_mb()
    for block in blocks[:-1]:
        libc.free(ctypes.c_void_p(block))
    freed = rss_mb()
    give_back_free_memory()
    print(written, freed, rss_mb())
    """
)


def malloc_after(setting: str) -> tuple[int, int]:
    """(bytes mapped apart for the 2 MB array, arenas in use) in a fresh process, ``lean``, ``solve`` or ``plain``."""
    done = subprocess.run([sys.executable, "-c", MALLOC_AFTER, setting], capture_output=True, text=True, check=True)
    # the last line: HiGHS 1.16 writes its banner to stdout as the process's first instance is made
    return int(done.stdout.splitlines()[-1]), done.stderr.count("Arena ")


@pytest.mark.skipif(not GLIBC, reason="mallopt's settings are glibc's")
def test_large_arrays_are_mapped_apart_and_threads_share_two_arenas():
    mapped, arenas = malloc_after("lean")
    assert mapped >= 2 * 2**20
    assert arenas == 2


@pytest.mark.skipif(not GLIBC, reason="mallopt's settings are glibc's")
def test_solve_keeps_malloc_lean_for_the_process():
    # solve() sets the tuning as it starts: the figures it leaves are those of the settings, not glibc's own
    assert malloc_after("solve") == malloc_after("lean")


@pytest.mark.skipif(not GLIBC, reason="mallopt's settings are glibc's")
def test_left_alone_glibc_keeps_the_array_in_its_heap_and_an_arena_per_thread():
    # the check above tells the settings apart: without them the same process gives other figures
    mapped, arenas = malloc_after("plain")
    assert mapped == 0
    assert arenas >= 5


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_free_memory_in_small_pieces_goes_back_to_the_system_when_asked():
    out = subprocess.run([sys.executable, "-c", FREED_IN_PIECES], capture_output=True, text=True, check=True).stdout
    written, freed, given_back = map(float, out.split())
    assert freed > written - 20  # malloc kept the 190 MB freed: the last block sits above it
    assert given_back < freed - 150

"""glibc's malloc set up for tensor work: large blocks served from the heap and kept for reuse.

With glibc's defaults every block above a threshold (dynamic, at most 32 MiB) is a fresh mmap that is
unmapped when freed, so each batch's large activations fault in zeroed pages anew: on a CPU about a
quarter of a training process's time goes to the kernel. Served from the heap, and with the heap never
trimmed, later batches reuse those pages; the price is that the process keeps its peak memory
(bench/RESULTS.md, "The memory allocator": lines per CPU-second and peak memory, with and without).
"""

from __future__ import annotations

import ctypes
import os
import platform

# mallopt(3) parameters from <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4


def sets_the_allocator(variable: str) -> bool:
    """Whether an environment variable chooses the allocator or its settings."""
    return variable in ("GLIBC_TUNABLES", "LD_PRELOAD") or variable.startswith("MALLOC_")


def runs_on_glibc() -> bool:
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def allocator_as_started() -> str:
    """The allocator this process started with: as the environment chose it, or the C library's defaults."""
    chosen = [f"{name}={value}" for name, value in sorted(os.environ.items()) if sets_the_allocator(name)]
    return f"as the environment sets it ({', '.join(chosen)})" if chosen else "the C library's defaults"


def keep_large_blocks_in_heap() -> str:
    """Set this process's glibc malloc up for tensor work (the commands that run a model call it first;
    worker processes forked later inherit it) and say which allocator serves the process. Left alone
    where the C library is not glibc, or where the environment already chooses (GLIBC_TUNABLES, MALLOC_*
    variables, another allocator through LD_PRELOAD): setting GLIBC_TUNABLES to anything keeps glibc's
    defaults."""
    if any(sets_the_allocator(name) for name in os.environ) or not runs_on_glibc():
        return allocator_as_started()
    libc = ctypes.CDLL(None)
    # mallopt returns 1 on success; -1 as the trim threshold turns trimming off (mallopt(3)).
    accepted = [libc.mallopt(M_MMAP_MAX, 0) == 1, libc.mallopt(M_TRIM_THRESHOLD, -1) == 1]
    return "glibc, large blocks kept in the heap" if all(accepted) else "glibc (mallopt refused a setting)"

"""Process settings for numerical work: BLAS threads, and how fresh memory is obtained."""

from __future__ import annotations

import contextlib


def one_blas_thread():
    """A context in which BLAS and LAPACK use one thread.

    The work per call in the fits and solves that use it is small (long vectors,
    matrices of a few hundred rows): OpenBLAS's spinning worker threads then cost more
    than they save, and on a busy machine far more — a 20k-customer CLV fit ran 40x
    slower (2 s vs 0.05 s) and 200 inverses of 157 x 157 took 6.4 s instead of 0.29 s
    on the 2-core CI machine.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


#: glibc ``mallopt`` parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8


def reuse_freed_memory(*, one_heap: bool = False) -> bool:
    """Keep freed memory in the process for reuse, in small pages (a command's start).

    A command that streams millions of rows through numpy allocates and frees many
    arrays of tens of megabytes.  By default each comes from a fresh ``mmap`` (glibc
    serves large requests that way and unmaps them on free) and numpy asks for
    transparent huge pages on it, so every array is first-touched again: page faults,
    and on this machine huge-page compaction stalls of up to 3 s per GiB.  Here big
    blocks come from the heap and freed ones are kept (``mallopt``: no ``mmap``, no
    trimming) and numpy stops asking for huge pages.  Measured on the 1M-path Markov
    attribution command, interleaved runs: system time 1.6-2.2 s -> 0.5-0.8 s and wall
    time 3.6-4.1 s -> 2.6-3.1 s.  Not for the simulator at a million customers, whose
    gigabyte arrays then come from the heap and must be zeroed and fragment it (49 ->
    64 s, 7.0 -> 7.7 GiB); it helps at 200,000 (12 -> 10.5 s) but is left off there.
    The memory is returned when the process ends, so this is for command-line
    processes, not a long-lived kernel.  Returns False where
    the C library is not glibc (nothing changed there but the huge pages).

    ``one_heap``: Arrow's buffers also come from this heap, and every thread allocates
    from the one arena, so the memory Arrow frees after reading a file (its CSV reader and
    string kernels: some 300 MB for 1M paths) is reused by the numpy arrays that follow
    instead of each allocator holding its own peak.  By default Arrow allocates with its
    bundled mimalloc and glibc gives each reading thread an arena of its own; on this
    virtual machine (which hands freed guest memory back to the host: a page first
    touched after that costs a host fault as well) that is what a command pays for most:
    measured on the 1M-path order-2 Markov command without intervals, after a pause,
    peak memory 1,041 -> 742 MB, system time 1.25 -> 0.41 s, wall time 1.54 -> 0.99 s
    (medians of 5).
    """
    import ctypes

    try:
        from numpy._core import multiarray

        multiarray._set_madvise_hugepage(False)
    except (ImportError, AttributeError):  # pragma: no cover - another numpy
        pass
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(_M_MMAP_MAX, 0) == 1
        ok = ok and libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
        if one_heap and ok:
            ok = libc.mallopt(_M_ARENA_MAX, 1) == 1
            if ok:
                _arrow_from_malloc()
        return ok
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return False


def _arrow_from_malloc() -> None:
    """Arrow's default memory pool becomes the C library's ``malloc`` (see above).

    A pool the user chose (``ARROW_DEFAULT_MEMORY_POOL``) is left as it is; the variable,
    when set here, is inherited by child processes (the commands that use this start none).
    """
    import os
    import sys

    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    if "pyarrow" in sys.modules:
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())
    else:  # read when pyarrow first makes its default pool; importing it here costs 0.1 s
        os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "system"

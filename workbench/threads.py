"""Thread settings for numerical kernels that are many and small."""

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

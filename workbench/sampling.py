"""The one set of MCMC sampler settings every Bayesian model in the workbench uses.

The discount model and the Bayesian CLV models hand their NUTS settings to
:class:`SamplerSettings` and sample through :meth:`SamplerSettings.sample`, so
the sampler choice (nutpie by default: the fastest cold and warm here, see the
README's discount benchmark), the compile caches and PyMC's keyword names live
in one place.  PyMC is imported only when sampling.

Examples
--------
>>> s = SamplerSettings(draws=500, tune=500, sampler="pymc")
>>> sorted(s.pymc_kwargs(target_accept=0.9))
['chains', 'cores', 'draws', 'nuts_sampler', 'progressbar', 'random_seed', 'target_accept', 'tune']
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass

#: NUTS implementations PyMC can hand the model to
SAMPLERS = ("nutpie", "numpyro", "pymc")


def configure_caches() -> None:
    """Keep PyTensor's and numba's compile caches in the checkout's git-ignored ``.cache``.

    An explicit ``PYTENSOR_FLAGS`` / ``NUMBA_CACHE_DIR`` (the Makefile sets both) wins.
    """
    os.environ.setdefault("PYTENSOR_FLAGS", "compiledir=.cache/pytensor")
    os.environ.setdefault("NUMBA_CACHE_DIR", ".cache/numba")


@dataclass(frozen=True)
class SamplerSettings:
    """NUTS settings: draws and tuning steps per chain, chains, sampler, acceptance, seed.

    ``target_accept=None`` lets the model choose (the discount model picks it from
    its parameterization).
    """

    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    sampler: str = "nutpie"
    target_accept: float | None = None
    random_seed: int | None = 0

    @classmethod
    def of(cls, estimator) -> SamplerSettings:
        """The settings an estimator stores as attributes (scikit-learn style)."""
        return cls(**{f: getattr(estimator, f) for f in cls.__dataclass_fields__})

    def check(self, error: type[Exception] = ValueError) -> SamplerSettings:
        """Raise ``error`` naming the setting that is out of range; return self."""
        if self.sampler not in SAMPLERS:
            raise error(f"sampler must be one of {SAMPLERS}, not {self.sampler!r}")
        for name in ("draws", "chains"):
            if int(getattr(self, name)) < 1:
                raise error(f"{name} must be at least 1, not {getattr(self, name)!r}")
        if self.tune < 0:
            raise error(f"tune must be >= 0, not {self.tune!r}")
        if self.target_accept is not None and not 0 < self.target_accept < 1:
            raise error(f"target_accept must be in (0, 1), not {self.target_accept!r}")
        return self

    def available_sampler(self) -> str:
        """The sampler to use: nutpie falls back to PyMC's NUTS when it is not installed."""
        if self.sampler == "nutpie":
            try:
                import nutpie  # noqa: F401
            except ImportError:
                return "pymc"
        return self.sampler

    def pymc_kwargs(self, target_accept: float | None = None,
                    sampler: str | None = None) -> dict:
        """Keyword arguments for ``pymc.sample``."""
        sampler = sampler or self.sampler
        kw = {"draws": self.draws, "tune": self.tune, "chains": self.chains,
              "random_seed": self.random_seed, "progressbar": False, "nuts_sampler": sampler,
              "target_accept": self.target_accept if target_accept is None else target_accept}
        if kw["target_accept"] is None:
            kw["target_accept"] = 0.9
        if sampler == "pymc":
            kw["cores"] = 1  # chains in one process: the machines have two shared cores
        return kw

    def sample(self, target_accept: float | None = None, fallback: bool = True,
               direct: bool = False):
        """Sample the PyMC model in context; return ``(idata, sampler_used)``.

        ``fallback``: use PyMC's NUTS when nutpie is not installed (else fail).
        ``direct``: with nutpie, skip ``pymc.sample`` and call nutpie straight
        (:func:`sample_nutpie`: same draws for the same seed, seconds less in a cold
        process; the trace has ``posterior`` and ``sample_stats`` only).
        """
        configure_caches()
        sampler = self.available_sampler() if fallback else self.sampler
        if direct and sampler == "nutpie":
            return sample_nutpie(self, target_accept), sampler
        import pymc as pm

        return pm.sample(**self.pymc_kwargs(target_accept, sampler)), sampler

    def to_dict(self) -> dict:
        return asdict(self)


def sample_nutpie(settings: SamplerSettings, target_accept: float | None = None,
                  model=None):
    """Sample the PyMC model in context with nutpie, not through ``pymc.sample``.

    The same compiled model and seed as ``pymc.sample(nuts_sampler="nutpie")`` (so the
    same draws), minus what a cold process pays there for nothing (measured on the
    discount model, README): PyMC's step-method assignment (a symbolic gradient per
    variable), a C compiler run for the initial-point function (compiled without the C
    backend here: it runs once per chain), and numba's slow-to-compile checked array
    copy in nutpie's two callbacks (:func:`_plain_copy_callbacks`).  No warm-up draws
    are kept and no ``observed_data`` / ``constant_data`` groups are added.
    """
    import pymc as pm

    return sample_compiled(compile_nutpie(pm.modelcontext(model)), settings, target_accept)


def compile_nutpie(model):
    """The model compiled for nutpie (see :func:`sample_nutpie`).

    Its ``pm.Data`` can be swapped with ``compiled.with_data(...)`` and the model
    sampled again without compiling.
    """
    import nutpie
    import pytensor

    with pytensor.config.change_flags(cxx=""), _plain_copy_callbacks():
        return nutpie.compile_pymc_model(model)


def sample_compiled(compiled, settings: SamplerSettings, target_accept: float | None = None):
    """Sample a model from :func:`compile_nutpie` with ``settings`` (seeded as PyMC does)."""
    import numpy as np
    import nutpie

    kw = settings.pymc_kwargs(target_accept, "nutpie")
    seed = kw["random_seed"]
    # pymc.sample hands nutpie the integer seed itself (one "chain" of seeds)
    seed = int(np.random.default_rng().integers(2**30)) if seed is None else int(seed)
    return nutpie.sample(compiled, draws=kw["draws"], tune=kw["tune"], chains=kw["chains"],
                         target_accept=kw["target_accept"], seed=seed, progress_bar=False,
                         save_warmup=False)


@contextmanager
def _plain_copy_callbacks():
    """While compiling, nutpie's logp and expand callbacks copy their result element-wise.

    nutpie writes the gradient with ``out[...] = grad``; numba compiles that checked
    array assignment (its shape-mismatch error path formats a message) in about 3 s per
    callback, half of a cold compile of a small model.  The copies here check the size
    once and copy in a loop: the same numbers.  Only nutpie versions with the expected
    private helpers are touched; with any other, the model compiles as before.
    """
    try:
        import nutpie.compile_pymc as cp
    except ImportError:
        cp = None
    names = ("_make_c_logp_func", "_make_c_expand_func", "make_extraction_fn")
    if cp is None or not all(hasattr(cp, n) for n in names):
        yield
        return
    saved = cp._make_c_logp_func, cp._make_c_expand_func
    cp._make_c_logp_func, cp._make_c_expand_func = _make_c_logp_func, _make_c_expand_func
    try:
        yield
    finally:
        cp._make_c_logp_func, cp._make_c_expand_func = saved


def _make_c_logp_func(n_dim, logp_fn, user_data, shared_logp, shared_data):
    """As nutpie's ``_make_c_logp_func`` (0.16), the gradient copied in a loop."""
    import numba
    import numpy as np
    from nutpie.compile_pymc import make_extraction_fn

    extract = make_extraction_fn(logp_fn, shared_data, shared_logp, user_data.dtype)
    c_sig = numba.types.int64(numba.types.uint64, numba.types.CPointer(numba.types.double),
                              numba.types.CPointer(numba.types.double),
                              numba.types.CPointer(numba.types.double), numba.types.voidptr)

    def logp_numba(dim, x_, out_, logp_, user_data_):
        if dim != n_dim:
            return -1
        try:
            x = numba.carray(x_, (n_dim,))
            out = numba.carray(out_, (n_dim,))
            logp = numba.carray(logp_, ())
            logp_val, grad = extract(x, user_data_)
            if grad.size != n_dim:
                return 1
            logp[()] = logp_val
            flat = grad.ravel()
            for i in range(n_dim):
                out[i] = flat[i]
            if not np.all(np.isfinite(out)):
                return 3
            if not np.isfinite(logp_val):
                return 4
        except Exception:  # noqa: BLE001 - nutpie's error codes, as in nutpie
            return 1
        return 0

    return logp_numba, c_sig


def _make_c_expand_func(n_dim, n_expanded, expand_fn, user_data, shared_vars, shared_data):
    """As nutpie's ``_make_c_expand_func`` (0.16), the draw copied in a loop."""
    import numba
    from nutpie.compile_pymc import make_extraction_fn

    extract = make_extraction_fn(expand_fn, shared_data, shared_vars, user_data.dtype)
    c_sig = numba.types.int64(numba.types.uint64, numba.types.uint64,
                              numba.types.CPointer(numba.types.double),
                              numba.types.CPointer(numba.types.double), numba.types.voidptr)

    def expand_numba(dim, expanded, x_, out_, user_data_):
        if dim != n_dim:
            return -1
        if expanded != n_expanded:
            return -1
        try:
            x = numba.carray(x_, (n_dim,))
            out = numba.carray(out_, (n_expanded,))
            (values,) = extract(x, user_data_)
            if values.size != n_expanded:
                return -2
            flat = values.ravel()
            for i in range(n_expanded):
                out[i] = flat[i]
        except Exception:  # noqa: BLE001 - nutpie's error codes, as in nutpie
            return -2
        return 0

    return expand_numba, c_sig


__all__ = ["SAMPLERS", "SamplerSettings", "configure_caches", "sample_nutpie"]

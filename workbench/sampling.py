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

    def sample(self, target_accept: float | None = None, fallback: bool = True):
        """Sample the PyMC model in context; return ``(idata, sampler_used)``.

        ``fallback``: use PyMC's NUTS when nutpie is not installed (else fail).
        """
        configure_caches()
        import pymc as pm

        sampler = self.available_sampler() if fallback else self.sampler
        return pm.sample(**self.pymc_kwargs(target_accept, sampler)), sampler

    def to_dict(self) -> dict:
        return asdict(self)


__all__ = ["SAMPLERS", "SamplerSettings", "configure_caches"]

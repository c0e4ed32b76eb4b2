"""Counter-based random numbers for common-random-number simulation.

A message's outcome draws (delivery, open, click, persuasion, unsubscribe) are
a pure function of ``(seed, stream, key)`` where ``key`` names the *thing* the
draw is about (this cart, this order, this customer and seasonal event), not the
position in a random stream.  Replaying the same store under another campaign
config therefore reuses the same uniforms for the same things, which is what
"common random numbers" (Law, *Simulation Modeling and Analysis*, 5th ed.,
sec. 11.2) needs: differences between configs come from the configs, not from
noise.

The mixer is SplitMix64's finaliser (Steele, Lea & Flood 2014, "Fast
splittable pseudorandom number generators", OOPSLA), which passes BigCrush
when used as a counter-based generator.
"""

from __future__ import annotations

import numpy as np
from scipy import special

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S11, _S27, _S30, _S31 = np.uint64(11), np.uint64(27), np.uint64(30), np.uint64(31)
_GOLDEN = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1
_GOLDEN64 = np.uint64(_GOLDEN)
_SALTS = tuple(np.uint64(((i + 1) * _GOLDEN) & _MASK) for i in range(8))


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser applied elementwise to a uint64 array."""
    x = np.asarray(x, dtype=np.uint64)
    if x.ndim == 0:  # numpy scalars warn on wrap-around; arrays wrap silently
        with np.errstate(over="ignore"):
            return mix64(x.reshape(1))[0]
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def combine(*parts) -> np.ndarray:
    """Hash several integer arrays (or scalars) into one uint64 key array."""
    out = None
    scalar = True
    for i, part in enumerate(parts):
        p = np.asarray(part)
        scalar &= p.ndim == 0
        p = p.reshape(-1) if p.ndim == 0 else p  # arrays wrap silently, scalars would warn
        p = p.astype(np.int64).view(np.uint64) if p.dtype.kind == "i" else p.astype(np.uint64)
        h = mix64(p + _SALTS[i] if i < len(_SALTS) else
                  p + np.uint64(((i + 1) * _GOLDEN) & _MASK))
        out = h if out is None else mix64(out ^ (h + _GOLDEN64))
    return out[0] if scalar else out


class KeyedUniform:
    """Uniform(0, 1) draws keyed by ``(seed, stream, key)``.

    Examples
    --------
    >>> ku = KeyedUniform(seed=7)
    >>> a = ku(stream=3, keys=np.arange(5, dtype=np.uint64))
    >>> bool(np.all((a > 0) & (a < 1)))
    True
    >>> bool(np.array_equal(a, ku(3, np.arange(5, dtype=np.uint64))))
    True
    """

    def __init__(self, seed: int):
        self._seed = mix64(np.array([seed & _MASK], dtype=np.uint64))[0]
        self._bases: dict[int, np.uint64] = {}

    def _base(self, stream: int) -> np.uint64:
        b = self._bases.get(stream)
        if b is None:
            b = mix64(np.array([(stream * _GOLDEN) & _MASK], dtype=np.uint64))[0] ^ self._seed
            self._bases[stream] = b
        return b

    def __call__(self, stream: int, keys: np.ndarray) -> np.ndarray:
        base = self._base(stream)
        k = np.asarray(keys, dtype=np.uint64)
        if k.ndim == 0:
            return self(stream, k.reshape(1))[0]
        x = mix64(k + base)  # arrays wrap around silently
        return ((x >> _S11).astype(np.float64) + 0.5) * (2.0**-53)

    def normal(self, stream: int, keys: np.ndarray) -> np.ndarray:
        """Standard normal draws by inverse CDF of the keyed uniforms."""
        return special.ndtri(self(stream, keys))

    def exponential(self, stream: int, keys: np.ndarray, mean: float | np.ndarray) -> np.ndarray:
        """Exponential draws with the given mean, by inversion."""
        return -np.log(self(stream, keys)) * mean

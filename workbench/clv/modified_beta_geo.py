"""MBG/NBD (Batislam, Denizel & Filiztekin 2007): BG/NBD with one more drop-out chance.

Its maths is the BG/NBD kernels of :mod:`workbench.clv.beta_geo` with ``k = 1``.
"""

from __future__ import annotations

from .beta_geo import BetaGeoModel


class ModifiedBetaGeoModel(BetaGeoModel):
    """MBG/NBD (Batislam, Denizel & Filiztekin 2007).

    BG/NBD plus a possible drop-out right after the first purchase, so customers with
    no repeat purchase can be "dead".

    Same settings and learned values as :class:`BetaGeoModel`.
    """

    NAME = "MBG/NBD"
    _K = 1

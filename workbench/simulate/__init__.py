"""Store simulator with ground truth.

``workbench.simulate`` is both this package and the function that runs it: once
any submodule (say ``workbench.simulate.truth``) is imported, Python binds the
package to the name ``simulate`` on ``workbench``, which would hide the function
``wb.simulate(...)``.  The package is therefore callable and forwards to
:func:`~workbench.simulate.engine.simulate`.
"""

import sys
import types

from .config import SCENARIOS, SimulationConfig, load_simulation_config, scenario
from .engine import SimulatedStore, simulate

__all__ = ["SCENARIOS", "SimulatedStore", "SimulationConfig", "load_simulation_config", "scenario",
           "simulate"]


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return simulate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage

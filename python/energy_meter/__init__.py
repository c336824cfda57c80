"""energy_meter: the energy a piece of Python code costs, per component.

    from energy_meter import EnergyMeter
    em = EnergyMeter(label="Test Meter")
    em.begin(); ...; em.end()
    print(em.get_total_joules_per_component())

The original EnergyMeter API (see docs/python.md), on top of libenergymeter
(loaded with ctypes: ENERGYMETER_LIB, beside this package, an in-tree
build/, the installed library, then the system's library path).
"""

import sys as _sys

from ._decorate import measure
from ._lib import LibraryNotFound
from ._result import Component, Measurement
from ._warn import EnergyMeterWarning, apply_warnoptions as _apply_warnoptions
from .meter import EnergyMeter, EnergyMeterError, RaplResult

# -W error::energy_meter.EnergyMeterWarning (CPython cannot apply it itself).
_apply_warnoptions(_sys.warnoptions)


def library_version() -> str:
    """The version of the libenergymeter actually loaded ("0.2.0")."""
    from . import _lib

    return _lib.decode(_lib.load().em_version())


def library_path() -> str:
    """Where the loaded libenergymeter came from."""
    from . import _lib

    return _lib.load().path


__all__ = ["EnergyMeter", "EnergyMeterError", "EnergyMeterWarning", "Measurement", "Component",
           "RaplResult", "LibraryNotFound", "measure", "library_version", "library_path"]
from ._find_version import VERSION as __version__  # noqa: E402

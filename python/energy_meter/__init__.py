"""energy_meter: the energy a piece of Python code costs, per component.

    from energy_meter import EnergyMeter
    em = EnergyMeter(label="Test Meter")
    em.begin(); ...; em.end()
    print(em.get_total_joules_per_component())

The original EnergyMeter API (see docs/python.md), on top of libenergymeter
(loaded with ctypes: ENERGYMETER_LIB, beside this package, an in-tree
build/, the installed library, then the system's library path).
"""

from ._lib import LibraryNotFound
from .meter import EnergyMeter, EnergyMeterError, measure


def library_version():
    """The version of the libenergymeter actually loaded ("0.1.0")."""
    from . import _lib

    return _lib.decode(_lib.load().em_version())


def library_path():
    """Where the loaded libenergymeter came from."""
    from . import _lib

    return _lib.load().path


__all__ = ["EnergyMeter", "EnergyMeterError", "LibraryNotFound", "measure", "library_version",
           "library_path"]
__version__ = "0.1.0"

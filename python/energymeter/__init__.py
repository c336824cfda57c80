"""energymeter: a second import name of energy_meter (the same objects, not a copy).

    from energymeter import EnergyMeter     # is energy_meter.EnergyMeter

Only this module is aliased: submodules are imported as energy_meter.<name>.
"""

from energy_meter import *  # noqa: F401,F403
from energy_meter import EnergyMeter, __all__, __version__  # noqa: F401

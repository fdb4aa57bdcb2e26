"""satode: activation saturation and Floquet/Lyapunov spectrum collapse in Neural ODEs."""

from . import systems as systems
from ._floquet import (
    floquet as floquet,
    FloquetSpectrum as FloquetSpectrum,
    monodromy as monodromy,
    Monodromy as Monodromy,
)
from ._flow import FlowOptions as FlowOptions, integrate as integrate
from ._periodic_orbit import (
    find_periodic_orbit as find_periodic_orbit,
    PeriodicOrbit as PeriodicOrbit,
    Shooting as Shooting,
)
from ._results import RESULTS as RESULTS, status_name as status_name

__version__ = "0.1.0"

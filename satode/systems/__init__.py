"""The reference systems, one per file, each an `AbstractSystem` named for the CLI."""

from ._base import AbstractSystem as AbstractSystem
from .fitzhugh_nagumo import FitzHughNagumo as FitzHughNagumo
from .hodgkin_huxley import HodgkinHuxley as HodgkinHuxley
from .lorenz import Lorenz as Lorenz
from .morris_lecar import MorrisLecar as MorrisLecar
from .rossler import Rossler as Rossler
from .stuart_landau import StuartLandau as StuartLandau
from .van_der_pol import VanDerPol as VanDerPol


SYSTEMS: dict[str, type[AbstractSystem]] = {
    cls.name: cls
    for cls in (
        StuartLandau,
        VanDerPol,
        FitzHughNagumo,
        MorrisLecar,
        HodgkinHuxley,
        Lorenz,
        Rossler,
    )
}


def get_system(name: str) -> type[AbstractSystem]:
    """The system class with CLI name `name` (e.g. `"stuart-landau"`).

    **Raises:** `ValueError` naming the unknown system and the known ones.
    """
    try:
        return SYSTEMS[name]
    except KeyError:
        raise ValueError(f"unknown system {name!r}; expected one of {list(SYSTEMS)}") from None

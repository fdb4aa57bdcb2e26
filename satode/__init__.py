"""satode: activation saturation and Floquet/Lyapunov spectrum collapse in Neural ODEs."""

from . import systems as systems
from ._activations import (
    Activation as Activation,
    ACTIVATIONS as ACTIVATIONS,
    get_activation as get_activation,
)
from ._analysis import (
    analyse_orbit as analyse_orbit,
    analyse_periodic_orbit as analyse_periodic_orbit,
    at_level as at_level,
    CurveAnalysis as CurveAnalysis,
    OrbitAnalysis as OrbitAnalysis,
)
from ._bounds import saturation_audit as saturation_audit, SaturationAudit as SaturationAudit
from ._certify import (
    capacity_needed as capacity_needed,
    Certificate as Certificate,
    certify as certify,
    target_from_system as target_from_system,
    TargetSpectrum as TargetSpectrum,
)
from ._continuation import (
    Branch as Branch,
    BranchEvent as BranchEvent,
    continue_orbit as continue_orbit,
)
from ._curve import (
    circle as circle,
    circle_spectrum as circle_spectrum,
    CurveSpectrum as CurveSpectrum,
)
from ._data import (
    make_trajectories as make_trajectories,
    Normaliser as Normaliser,
    r_squared as r_squared,
    Trajectories as Trajectories,
)
from ._errors import InputError as InputError
from ._fit import (
    fit_vector_field as fit_vector_field,
    sample_annulus as sample_annulus,
    sample_box as sample_box,
)
from ._floquet import (
    floquet as floquet,
    FloquetSpectrum as FloquetSpectrum,
    Monodromy as Monodromy,
    monodromy as monodromy,
)
from ._flow import FlowOptions as FlowOptions, integrate as integrate
from ._io import load_mlp as load_mlp, save_mlp as save_mlp
from ._lyapunov import (
    lyapunov_audit as lyapunov_audit,
    lyapunov_spectrum as lyapunov_spectrum,
    LyapunovSpectrum as LyapunovSpectrum,
)
from ._lyapunov_sweep import (
    analyse_trajectory as analyse_trajectory,
    lyapunov_sweep as lyapunov_sweep,
    LyapunovSweepResult as LyapunovSweepResult,
    TrajectoryAnalysis as TrajectoryAnalysis,
)
from ._mlp import SaturatingMLP as SaturatingMLP
from ._periodic_orbit import (
    find_periodic_orbit as find_periodic_orbit,
    PeriodicOrbit as PeriodicOrbit,
    sample_orbit as sample_orbit,
    Shooting as Shooting,
)
from ._results import RESULTS as RESULTS, status_name as status_name
from ._solver import Unrolled as Unrolled
from ._sweep import sweep as sweep, SweepResult as SweepResult
from ._train import (
    export_mlp as export_mlp,
    fit as fit,
    fit_ensemble as fit_ensemble,
    init_mlp as init_mlp,
    predict as predict,
    TrainOptions as TrainOptions,
    TrainResult as TrainResult,
)


__version__ = "0.1.0"

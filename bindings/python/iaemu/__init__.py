"""iaemu from Python: galaxy intrinsic-alignment correlation functions, simulation, expected
(noise-free) correlations from tables and the neural-network emulator, through the library's
C ABI (ctypes + NumPy, no compile step).

Library lookup: $IAEMU_LIB (path to libiaemu.so), else the project's build
(<repo>/target/release/libiaemu.so relative to this package), else ctypes.util.find_library.

Arrays are NumPy float64, C order, matching the C row-major layout: an (n, 3) array of
positions is the C array pos[3 n]; an (n, 3, n_bins) result holds point i, statistic s (xi,
omega, eta), bin b at [i, s, b] = C [(i * 3 + s) * n_bins + b]. Every failing status raises an
IAEmuError subclass carrying ia_last_error_message(). The GIL is released during library calls.
"""

from __future__ import annotations

from ctypes import byref, c_char_p

from . import _lib
from ._lib import (
    IA_N_PARAMS,
    IA_N_PARTS,
    IA_N_STATISTICS,
    IA_PART_CEN_CEN_2H,
    IA_PART_CEN_SAT_1H,
    IA_PART_CEN_SAT_2H,
    IA_PART_SAT_SAT_1H,
    IA_PART_SAT_SAT_2H,
    IA_SATELLITES_AUTO,
    IA_SATELLITES_NFW,
    IA_SATELLITES_SUBHALOS,
    IA_XI_N_N_MINUS_1,
    IA_XI_N_SQUARED,
    LIB_PATH,
    last_error_message,
)
from .corr import CorrResult, correlate, cross_correlate, default_r_edges
from .emulator import Emulator, EmulatorInfo, Jacobian, Prediction
from .expect import PART_NAMES, Expectation, Parts, Table, TableInfo
from .errors import (
    IAEmuError,
    IaIOError,
    InternalError,
    InvalidArgumentError,
    OutOfDomainError,
    OutOfMemoryError,
    UnsupportedError,
)
from .halos import Galaxies, Halos, SimulationResult, simulate
from .train import TrainEpoch, train

__version__ = "0.1.0"

N_PARAMS = IA_N_PARAMS
N_STATISTICS = IA_N_STATISTICS
STATISTICS = ("xi", "omega", "eta")


def version() -> str:
    """The library's version, "major.minor.patch" (ia_version)."""
    return _lib.lib.ia_version().decode()


def set_num_threads(n: int) -> None:
    """Sets the default number of threads of all later calls in the process (0: the default,
    IAEMU_NUM_THREADS, else all cores). Thread-safe."""
    _lib.check(_lib.lib.ia_set_num_threads(_lib.u32(n, "n")))


def set_memory_budget(bytes: int) -> None:
    """Sets the memory budget, in bytes, of all later calls in the process: the most one call may
    allocate (outputs included); a call that would need more raises OutOfMemoryError before it
    starts. 0 restores the default (IAEMU_MEMORY_BUDGET, else half the physical memory, at most
    8 GiB); less than 64 MiB raises InvalidArgumentError. Thread-safe."""
    _lib.check(_lib.lib.ia_set_memory_budget(_lib.u64(bytes, "bytes")))


def _param_names() -> tuple:
    names = []
    for i in range(IA_N_PARAMS):
        p = c_char_p()
        _lib.check(_lib.lib.ia_param_name(i, byref(p)))
        names.append(p.value.decode())
    return tuple(names)


PARAM_NAMES = _param_names()

__all__ = [
    "CorrResult", "Emulator", "EmulatorInfo", "Expectation", "Galaxies", "Halos", "IAEmuError",
    "IaIOError", "InternalError", "InvalidArgumentError", "Jacobian", "LIB_PATH", "N_PARAMS",
    "N_STATISTICS", "OutOfDomainError", "OutOfMemoryError", "PARAM_NAMES", "PART_NAMES", "Parts",
    "Prediction", "STATISTICS", "SimulationResult", "Table", "TableInfo", "TrainEpoch",
    "UnsupportedError", "correlate", "cross_correlate", "default_r_edges", "last_error_message", "set_memory_budget", "set_num_threads", "simulate",
    "train", "version",
    "IA_SATELLITES_AUTO", "IA_SATELLITES_NFW", "IA_SATELLITES_SUBHALOS", "IA_XI_N_N_MINUS_1",
    "IA_XI_N_SQUARED", "IA_N_PARTS", "IA_PART_CEN_CEN_2H", "IA_PART_CEN_SAT_1H",
    "IA_PART_CEN_SAT_2H", "IA_PART_SAT_SAT_1H", "IA_PART_SAT_SAT_2H",
]

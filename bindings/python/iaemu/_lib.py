"""Loading libiaemu.so, the C structures and function signatures, and status checking.

Everything here mirrors include/iaemu.h; the public API is in the other modules.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char_p,
    c_double,
    c_int,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path

import numpy as np

from .errors import _raise_for_status

# Constants of include/iaemu.h.
IA_OK = 0
IA_N_PARAMS = 7
IA_N_STATISTICS = 3
IA_XI_N_SQUARED = 0
IA_XI_N_N_MINUS_1 = 1
IA_CORR_R_EDGES = 0
IA_CORR_R_MID = 1
IA_CORR_XI = 2
IA_CORR_OMEGA = 3
IA_CORR_ETA = 4
IA_CORR_WEIGHTED_PAIRS = 5
IA_CORR_XI_VAR = 6
IA_CORR_OMEGA_VAR = 7
IA_CORR_ETA_VAR = 8
IA_CORR_COVARIANCE = 9
IA_GAL_POSITIONS = 0
IA_GAL_VELOCITIES = 1
IA_GAL_ORIENTATIONS = 2
IA_SATELLITES_AUTO = 0
IA_SATELLITES_SUBHALOS = 1
IA_SATELLITES_NFW = 2
IA_PART_CEN_CEN_2H = 0
IA_PART_CEN_SAT_1H = 1
IA_PART_CEN_SAT_2H = 2
IA_PART_SAT_SAT_1H = 3
IA_PART_SAT_SAT_2H = 4
IA_N_PARTS = 5


class IaCorrOptions(Structure):
    _fields_ = [
        ("box_size", c_double * 3),
        ("r_edges", POINTER(c_double)),
        ("n_edges", c_size_t),
        ("xi_normalization", c_int),
        ("jackknife_side", c_uint32),
        ("covariance", c_int),
        ("n_threads", c_uint32),
    ]


class IaEmulatorInfo(Structure):
    _fields_ = [
        ("n_params", c_size_t),
        ("n_statistics", c_size_t),
        ("n_bins", c_size_t),
        ("domain_min", c_double * IA_N_PARAMS),
        ("domain_max", c_double * IA_N_PARAMS),
        ("log_xi", c_int),
        ("on_cuda", c_int),
        ("n_weights", c_int64),
        ("n_train", c_size_t),
        ("epochs", c_size_t),
        ("pcc_mean", c_double * IA_N_STATISTICS),
        ("frac_err_median", c_double * IA_N_STATISTICS),
        ("coverage_1sigma", c_double * IA_N_STATISTICS),
        ("coverage_2sigma", c_double * IA_N_STATISTICS),
    ]


class IaTrainEpoch(Structure):
    _fields_ = [
        ("epoch", c_size_t),
        ("max_epochs", c_size_t),
        ("train_loss", c_double),
        ("validation_loss", c_double),
        ("best_validation_loss", c_double),
        ("best_epoch", c_size_t),
        ("learning_rate", c_double),
        ("seconds", c_double),
        ("eta_seconds", c_double),
        ("resumed", c_int),
    ]


IaTrainProgress = CFUNCTYPE(c_int, POINTER(IaTrainEpoch), c_void_p)


class IaHalosLoadOptions(Structure):
    _fields_ = [
        ("box_size", c_double),
        ("particle_mass", c_double),
        ("redshift", c_double),
        ("force", c_int),
    ]


class IaSyntheticOptions(Structure):
    _fields_ = [
        ("box_size", c_double),
        ("seed", c_uint64),
        ("min_host_mass", c_double),
        ("particle_mass", c_double),
        ("grid", c_uint32),
        ("subhalos", c_int),
        ("subhalo_survival", c_double),
        ("axis_scatter", c_double),
        ("tidal_smoothing", c_double),
        ("omega_m", c_double),
        ("omega_b", c_double),
        ("h", c_double),
        ("n_s", c_double),
        ("sigma8", c_double),
        ("n_threads", c_uint32),
    ]


class IaHalosInfo(Structure):
    _fields_ = [
        ("n_halos", c_size_t),
        ("n_hosts", c_size_t),
        ("n_subhalos", c_size_t),
        ("n_central_hosts", c_size_t),
        ("box_size", c_double * 3),
        ("particle_mass", c_double),
        ("redshift", c_double),
        ("mvir_min", c_double),
        ("mvir_max", c_double),
        ("rows_read", c_size_t),
        ("dropped_orphans", c_size_t),
        ("wrapped_positions", c_size_t),
        ("zero_axis_hosts", c_size_t),
    ]


class IaSimulateOptions(Structure):
    _fields_ = [
        ("r_edges", POINTER(c_double)),
        ("n_edges", c_size_t),
        ("xi_normalization", c_int),
        ("satellites", c_int),
        ("satellites_times_centrals", c_int),
        ("min_host_particles", c_double),
        ("n_threads", c_uint32),
    ]


class IaTableOptions(Structure):
    _fields_ = [
        ("r_edges", POINTER(c_double)),
        ("n_edges", c_size_t),
        ("satellites", c_int),
        ("min_host_particles", c_double),
        ("mass_bin_dex", c_double),
        ("draws_per_mass_bin", c_uint64),
        ("tracers_two_halo", c_uint32),
        ("seed", c_uint64),
        ("n_threads", c_uint32),
    ]


class IaExpectOptions(Structure):
    _fields_ = [
        ("xi_normalization", c_int),
        ("satellites_times_centrals", c_int),
        ("n_threads", c_uint32),
    ]


class IaTableInfo(Structure):
    _fields_ = [
        ("n_bins", c_size_t),
        ("satellites", c_int),
        ("n_hosts", c_size_t),
        ("n_subhalos", c_size_t),
        ("box_size", c_double * 3),
        ("size_bytes", c_size_t),
    ]


P_DOUBLE = POINTER(c_double)
P_U32 = POINTER(c_uint32)
P_U64 = POINTER(c_uint64)
P_I64 = POINTER(c_int64)
P_U8 = POINTER(c_uint8)
HANDLE = c_void_p

# name: (restype, argtypes). Every function returns int except the two string ones.
_SIGNATURES = {
    "ia_version": (c_char_p, []),
    "ia_last_error_message": (c_char_p, []),
    "ia_set_num_threads": (c_int, [c_uint32]),
    "ia_set_memory_budget": (c_int, [c_uint64]),
    "ia_corr_options_default": (c_int, [c_double, POINTER(IaCorrOptions)]),
    "ia_correlate": (
        c_int,
        [P_DOUBLE, P_DOUBLE, P_DOUBLE, c_size_t, POINTER(IaCorrOptions), POINTER(HANDLE)],
    ),
    "ia_cross_correlate": (
        c_int,
        [P_DOUBLE, P_DOUBLE, P_DOUBLE, c_size_t, P_DOUBLE, P_DOUBLE, P_DOUBLE, c_size_t,
         POINTER(IaCorrOptions), POINTER(HANDLE)],
    ),
    "ia_corr_result_n_bins": (c_int, [HANDLE, POINTER(c_size_t)]),
    "ia_corr_result_get": (c_int, [HANDLE, c_int, P_DOUBLE, c_size_t]),
    "ia_corr_result_pairs": (c_int, [HANDLE, P_U64, c_size_t]),
    "ia_corr_result_free": (c_int, [HANDLE]),
    "ia_param_name": (c_int, [c_size_t, POINTER(c_char_p)]),
    "ia_emulator_load": (c_int, [c_char_p, c_char_p, POINTER(HANDLE)]),
    "ia_emulator_info": (c_int, [HANDLE, POINTER(IaEmulatorInfo)]),
    "ia_emulator_r_edges": (c_int, [HANDLE, P_DOUBLE, c_size_t]),
    "ia_emulator_set_extrapolation": (c_int, [HANDLE, c_int]),
    "ia_predict_batch": (
        c_int,
        [HANDLE, P_DOUBLE, c_size_t, c_uint32, c_uint64, P_DOUBLE, P_DOUBLE, P_DOUBLE, P_U32],
    ),
    "ia_predict_jacobian": (c_int, [HANDLE, P_DOUBLE, c_size_t, P_DOUBLE, P_DOUBLE, P_U32]),
    "ia_emulator_free": (c_int, [HANDLE]),
    "ia_train": (c_int, [c_char_p, c_char_p, c_char_p, IaTrainProgress, c_void_p]),
    "ia_halos_load": (c_int, [c_char_p, POINTER(HANDLE)]),
    "ia_halos_load_with_options": (c_int, [c_char_p, POINTER(IaHalosLoadOptions), POINTER(HANDLE)]),
    "ia_synthetic_options_default": (c_int, [POINTER(IaSyntheticOptions)]),
    "ia_halos_synthetic": (c_int, [POINTER(IaSyntheticOptions), POINTER(HANDLE)]),
    "ia_halos_save": (c_int, [HANDLE, c_char_p]),
    "ia_halos_info": (c_int, [HANDLE, POINTER(IaHalosInfo)]),
    "ia_halos_column_f64": (c_int, [HANDLE, c_char_p, P_DOUBLE, c_size_t]),
    "ia_halos_column_i64": (c_int, [HANDLE, c_char_p, P_I64, c_size_t]),
    "ia_halos_free": (c_int, [HANDLE]),
    "ia_simulate_options_default": (c_int, [POINTER(IaSimulateOptions)]),
    "ia_populate": (c_int, [HANDLE, P_DOUBLE, c_uint64, POINTER(HANDLE)]),
    "ia_galaxies_count": (c_int, [HANDLE, POINTER(c_size_t)]),
    "ia_galaxies_get": (c_int, [HANDLE, c_int, P_DOUBLE, c_size_t]),
    "ia_galaxies_kind": (c_int, [HANDLE, P_U8, P_I64, c_size_t]),
    "ia_galaxies_free": (c_int, [HANDLE]),
    "ia_simulate": (
        c_int,
        [HANDLE, P_DOUBLE, c_uint32, c_uint64, POINTER(IaSimulateOptions), P_DOUBLE, P_DOUBLE, c_size_t],
    ),
    "ia_table_options_default": (c_int, [POINTER(IaTableOptions)]),
    "ia_expect_options_default": (c_int, [POINTER(IaExpectOptions)]),
    "ia_table_build": (c_int, [HANDLE, POINTER(IaTableOptions), POINTER(HANDLE)]),
    "ia_table_load": (c_int, [c_char_p, POINTER(HANDLE)]),
    "ia_table_save": (c_int, [HANDLE, c_char_p]),
    "ia_table_info": (c_int, [HANDLE, POINTER(IaTableInfo)]),
    "ia_table_r_edges": (c_int, [HANDLE, P_DOUBLE, c_size_t]),
    "ia_table_free": (c_int, [HANDLE]),
    "ia_expect_batch": (
        c_int, [HANDLE, P_DOUBLE, c_size_t, POINTER(IaExpectOptions), P_DOUBLE, c_size_t, P_DOUBLE],
    ),
    "ia_expect_jacobian": (c_int, [HANDLE, P_DOUBLE, c_size_t, POINTER(IaExpectOptions), P_DOUBLE, c_size_t]),
    "ia_expect_parts": (c_int, [HANDLE, P_DOUBLE, c_size_t, POINTER(IaExpectOptions), P_DOUBLE, c_size_t]),
}


def _candidates():
    """The places tried for libiaemu.so, in order, as (description, path or name)."""
    env = os.environ.get("IAEMU_LIB")
    if env:
        # An explicit choice: nothing else is tried, so a wrong path is never masked.
        return [("IAEMU_LIB", env)]
    here = Path(__file__).resolve().parent
    out = [("the project's build", str(here.parents[2] / "target" / "release" / "libiaemu.so"))]
    found = ctypes.util.find_library("iaemu")
    out.append(("ctypes.util.find_library('iaemu')", found))
    return out


def _load():
    tried = []
    for what, path in _candidates():
        if not path:
            tried.append(f"{what}: not found")
            continue
        if what != "ctypes.util.find_library('iaemu')" and not os.path.exists(path):
            tried.append(f"{what}: {path} (no such file)")
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{what}: {path} ({e})")
            continue
        return lib, path
    raise ImportError(
        "iaemu: cannot load libiaemu.so. Tried:\n  "
        + "\n  ".join(tried)
        + "\nBuild it (bash scripts/setup.sh in the iaemu repository) or set IAEMU_LIB to the path "
        "of libiaemu.so."
    )


lib, LIB_PATH = _load()

for _name, (_res, _args) in _SIGNATURES.items():
    try:
        _f = getattr(lib, _name)
    except AttributeError as e:  # an older or foreign library
        raise ImportError(f"iaemu: {LIB_PATH} lacks {_name}: not a matching libiaemu.so") from e
    _f.restype = _res
    _f.argtypes = _args


def last_error_message() -> str:
    """ia_last_error_message(): this thread's text of the last failure, "" after a success."""
    return lib.ia_last_error_message().decode("utf-8", "replace")


def check(status: int, flags=None) -> None:
    """Raises the exception of a failing status with the library's message (read at once, on the
    calling thread, as the C conventions require)."""
    if status != IA_OK:
        _raise_for_status(status, last_error_message(), flags)


# ---- conversions ------------------------------------------------------------------------------

_U32_MAX = 2**32 - 1
_U64_MAX = 2**64 - 1


def as_f64(x, name: str) -> np.ndarray:
    """x as a C-contiguous float64 array; no copy when it already is one (or a view of one)."""
    try:
        return np.ascontiguousarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: not convertible to a float64 array ({e})") from e


def as_rows(x, width: int, name: str) -> np.ndarray:
    """An (n, width) C-contiguous float64 array from an (n, width) or (width,) input; a 1-D
    input of `width` values becomes one row (a view, not a copy)."""
    a = as_f64(x, name)
    if a.ndim == 1 and a.shape[0] == width:
        a = a.reshape(1, width)
    if a.ndim != 2 or a.shape[1] != width:
        raise ValueError(f"{name}: expected shape (n, {width}) or ({width},), got {a.shape}")
    if a.shape[0] == 0:
        raise ValueError(f"{name}: no rows")
    return a


def as_params(x, name: str = "params") -> np.ndarray:
    return as_rows(x, IA_N_PARAMS, name)


def as_point(x, name: str = "params") -> np.ndarray:
    """One parameter point: 7 values (shape (7,) or (1, 7))."""
    a = as_f64(x, name)
    if a.size != IA_N_PARAMS or a.ndim not in (1, 2):
        raise ValueError(f"{name}: expected {IA_N_PARAMS} values (one point), got shape {a.shape}")
    return a.reshape(IA_N_PARAMS)


def ptr(a: np.ndarray | None, ctype=c_double):
    """A ctypes pointer to the data of a C-contiguous array (NULL for None). The caller keeps `a`
    alive for the duration of the call."""
    if a is None:
        return None
    return a.ctypes.data_as(POINTER(ctype))


def u32(v, name: str) -> int:
    v = _int(v, name)
    if not 0 <= v <= _U32_MAX:
        raise ValueError(f"{name}: {v} is outside 0..{_U32_MAX}")
    return v


def u64(v, name: str) -> int:
    v = _int(v, name)
    if not 0 <= v <= _U64_MAX:
        raise ValueError(f"{name}: {v} is outside 0..2^64-1")
    return v


def _int(v, name: str) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {type(v).__name__}")
    return int(v)


def path_bytes(p, name: str = "path") -> bytes:
    if p is None:
        raise ValueError(f"{name}: None")
    return os.fsencode(os.fspath(p))

"""Halo catalogues, galaxies and simulation: ia_halos_*, ia_populate, ia_galaxies_*, ia_simulate."""

from __future__ import annotations

import math
from ctypes import byref, c_int64, c_size_t, c_uint8
from typing import NamedTuple

import numpy as np

from . import _lib
from ._handle import _Handle
from ._lib import HANDLE, IA_N_STATISTICS, check, lib, ptr
from .corr import _edges, _normalization, default_r_edges

INTEGER_COLUMNS = ("halo_id", "halo_upid", "halo_hostid")

_SATELLITES = {
    "auto": _lib.IA_SATELLITES_AUTO,
    "subhalos": _lib.IA_SATELLITES_SUBHALOS,
    "nfw": _lib.IA_SATELLITES_NFW,
}


def _synthetic_fields():
    return [name for name, _ in _lib.IaSyntheticOptions._fields_]


class Halos(_Handle):
    """A halo catalogue (IaHalos). Make one with Halos.load(path) or Halos.synthetic(...).

    Immutable once made: one Halos may be used from many threads at once (populate, simulate);
    the GIL is released during each call."""

    _free_name = "ia_halos_free"
    _kind = "Halos"

    def __init__(self, handle):
        # Private: use Halos.load or Halos.synthetic.
        super().__init__(handle)

    @classmethod
    def load(cls, path, box_size=None, particle_mass=None, redshift=None, force=False) -> "Halos":
        """Reads halotools cache HDF5, Rockstar out_*.list, consistent-trees hlist_*.list or .npz
        (detected from the file). box_size (Mpc/h), particle_mass (Msun/h) and redshift supply
        what a file lacks (ia_halos_load_with_options); force=True uses them even where the
        file has its own."""
        p = _lib.path_bytes(path)
        h = HANDLE()
        if box_size is None and particle_mass is None and redshift is None and not force:
            check(lib.ia_halos_load(p, byref(h)))
        else:
            nan = math.nan
            opt = _lib.IaHalosLoadOptions(
                nan if box_size is None else float(box_size),
                nan if particle_mass is None else float(particle_mass),
                nan if redshift is None else float(redshift),
                1 if force else 0,
            )
            check(lib.ia_halos_load_with_options(p, byref(opt), byref(h)))
        return cls(h.value)

    @classmethod
    def synthetic(cls, **options) -> "Halos":
        """The synthetic universe (ia_halos_synthetic). Keyword arguments are the fields of
        IaSyntheticOptions: box_size (250), seed, min_host_mass, particle_mass, grid (128, even,
        8..512), subhalos (True), subhalo_survival, axis_scatter, tidal_smoothing, omega_m,
        omega_b, h, n_s, sigma8, threads (or n_threads; 0 = the default). The same options give
        the same catalogue on any thread count."""
        opt = _lib.IaSyntheticOptions()
        check(lib.ia_synthetic_options_default(byref(opt)))
        if "threads" in options:
            if "n_threads" in options:
                raise TypeError("give threads or n_threads, not both")
            options["n_threads"] = options.pop("threads")
        known = _synthetic_fields()
        for key, value in options.items():
            if key not in known:
                raise TypeError(f"Halos.synthetic: unknown option {key!r}; the options are {', '.join(known + ['threads'])}")
            if key == "seed":
                value = _lib.u64(value, key)
            elif key in ("grid", "n_threads"):
                value = _lib.u32(value, key)
            elif key == "subhalos":
                value = 1 if value else 0
            else:
                value = float(value)
            setattr(opt, key, value)
        h = HANDLE()
        check(lib.ia_halos_synthetic(byref(opt), byref(h)))
        return cls(h.value)

    def save(self, path) -> None:
        """Writes halotools cache HDF5 (.hdf5/.h5) or NumPy .npz (.npz); complete or not at all."""
        check(lib.ia_halos_save(self._h(), _lib.path_bytes(path)))

    @property
    def info(self) -> dict:
        """ia_halos_info as a dict: n_halos, n_hosts, n_subhalos, n_central_hosts, box_size (3),
        particle_mass, redshift, mvir_min, mvir_max, rows_read, dropped_orphans,
        wrapped_positions, zero_axis_hosts."""
        ci = _lib.IaHalosInfo()
        check(lib.ia_halos_info(self._h(), byref(ci)))
        out = {name: getattr(ci, name) for name, _ in _lib.IaHalosInfo._fields_}
        out["box_size"] = tuple(ci.box_size)
        return out

    def __len__(self) -> int:
        return self.info["n_halos"]

    def column(self, name: str) -> np.ndarray:
        """A column by its halotools name: float64 (e.g. "halo_mvir", "halo_x", "halo_rs", the
        shape "halo_b_to_a", "halo_c_to_a", NaN where unknown) or int64 for the ids ("halo_id",
        "halo_upid", "halo_hostid")."""
        n = self.info["n_halos"]
        cname = str(name).encode()
        if name in INTEGER_COLUMNS:
            out = np.empty(n, dtype=np.int64)
            check(lib.ia_halos_column_i64(self._h(), cname, ptr(out, c_int64), n))
        else:
            out = np.empty(n, dtype=np.float64)
            check(lib.ia_halos_column_f64(self._h(), cname, ptr(out), n))
        return out

    def populate(self, params, seed: int = 1) -> "Galaxies":
        """Puts galaxies into the hosts for one point of 7 parameters (ia_populate, default
        options); the same seed gives the same galaxies on any thread count."""
        p = _lib.as_point(params)
        h = HANDLE()
        check(lib.ia_populate(self._h(), ptr(p), _lib.u64(seed, "seed"), byref(h)))
        return Galaxies(h.value)

    def __repr__(self) -> str:
        if self.closed:
            return "<iaemu.Halos (closed)>"
        i = self.info
        return f"<iaemu.Halos {i['n_halos']} halos ({i['n_hosts']} hosts), box {i['box_size']}>"


class Galaxies(_Handle):
    """Galaxies made by Halos.populate (IaGalaxies): immutable, usable from many threads. Each
    property copies from the library into a new array: positions (Mpc/h), velocities (km/s) and
    orientations (unit major axes) of shape (n, 3); is_central (bool) and host_id (int64) (n,)."""

    _free_name = "ia_galaxies_free"
    _kind = "Galaxies"

    @property
    def count(self) -> int:
        n = c_size_t()
        check(lib.ia_galaxies_count(self._h(), byref(n)))
        return n.value

    def __len__(self) -> int:
        return self.count

    def _get(self, quantity) -> np.ndarray:
        n = self.count
        out = np.empty((n, 3))
        check(lib.ia_galaxies_get(self._h(), quantity, ptr(out), out.size))
        return out

    @property
    def positions(self) -> np.ndarray:
        return self._get(_lib.IA_GAL_POSITIONS)

    @property
    def velocities(self) -> np.ndarray:
        return self._get(_lib.IA_GAL_VELOCITIES)

    @property
    def orientations(self) -> np.ndarray:
        return self._get(_lib.IA_GAL_ORIENTATIONS)

    def _kind_arrays(self):
        n = self.count
        central = np.empty(n, dtype=np.uint8)
        host = np.empty(n, dtype=np.int64)
        check(lib.ia_galaxies_kind(self._h(), ptr(central, c_uint8), ptr(host, c_int64), n))
        return central.astype(bool), host

    @property
    def is_central(self) -> np.ndarray:
        return self._kind_arrays()[0]

    @property
    def host_id(self) -> np.ndarray:
        return self._kind_arrays()[1]

    def __repr__(self) -> str:
        return "<iaemu.Galaxies (closed)>" if self.closed else f"<iaemu.Galaxies {self.count}>"


class SimulationResult(NamedTuple):
    """ia_simulate: mean and variance over realisations (divisor R - 1; NaN for R = 1), each
    (3, n_bins), rows xi, omega, eta; r_edges (n_bins + 1) Mpc/h."""

    mean: np.ndarray
    var: np.ndarray
    r_edges: np.ndarray


_SIM_OPTIONS = ("r_edges", "xi_normalization", "satellites", "satellites_times_centrals",
                "min_host_particles", "threads", "n_threads")


def simulate(halos: Halos, params, n_realizations: int = 10, seed: int = 1, **options) -> SimulationResult:
    """Populates `halos` n_realizations times for one point of 7 parameters and measures xi,
    omega and eta each time (ia_simulate). The result depends only on (seed, params, options).

    Options (IaSimulateOptions): r_edges (None: the 20 default bins), xi_normalization
    ("n_squared" or "n_n_minus_1"), satellites ("auto", "subhalos", "nfw"),
    satellites_times_centrals (bool), min_host_particles (300), threads (or n_threads;
    0 = the default)."""
    for key in options:
        if key not in _SIM_OPTIONS:
            raise TypeError(f"simulate: unknown option {key!r}; the options are {', '.join(_SIM_OPTIONS)}")
    if "threads" in options and "n_threads" in options:
        raise TypeError("give threads or n_threads, not both")
    if not isinstance(halos, Halos):
        raise TypeError(f"halos: expected iaemu.Halos, got {type(halos).__name__}")
    p = _lib.as_point(params)
    opt = _lib.IaSimulateOptions()
    check(lib.ia_simulate_options_default(byref(opt)))
    e = _edges(options.get("r_edges"))
    if e is not None:
        opt.r_edges = ptr(e)
        opt.n_edges = e.size
        edges = e.copy()
    else:
        edges = default_r_edges()
    if "xi_normalization" in options:
        opt.xi_normalization = _normalization(options["xi_normalization"])
    if "satellites" in options:
        s = options["satellites"]
        if isinstance(s, str):
            if s not in _SATELLITES:
                raise ValueError(f"satellites: {s!r}; expected one of {sorted(_SATELLITES)}")
            s = _SATELLITES[s]
        opt.satellites = int(s)
    if "satellites_times_centrals" in options:
        opt.satellites_times_centrals = 1 if options["satellites_times_centrals"] else 0
    if "min_host_particles" in options:
        opt.min_host_particles = float(options["min_host_particles"])
    threads = options.get("threads", options.get("n_threads", 0))
    opt.n_threads = _lib.u32(threads, "threads")
    nb = edges.size - 1
    mean = np.empty((IA_N_STATISTICS, nb))
    var = np.empty((IA_N_STATISTICS, nb))
    check(
        lib.ia_simulate(
            halos._h(), ptr(p), _lib.u32(n_realizations, "n_realizations"), _lib.u64(seed, "seed"),
            byref(opt), ptr(mean), ptr(var), mean.size,
        )
    )
    return SimulationResult(mean, var, edges)


"""Expected correlations: tables of a halo catalogue (ia_table_*) and the expected xi, omega and
eta of model points, their parts and their exact Jacobian (ia_expect_*)."""

from __future__ import annotations

import os
from ctypes import byref
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import _lib
from ._handle import _Handle
from ._lib import HANDLE, IA_N_PARAMS, IA_N_PARTS, IA_N_STATISTICS, check, lib, ptr
from .corr import _edges, _normalization
from .emulator import _Mapping
from .halos import _SATELLITES, Halos

# The parts of Table.parts, in the order of the C constants IA_PART_*.
PART_NAMES = ("cen_cen_2h", "cen_sat_1h", "cen_sat_2h", "sat_sat_1h", "sat_sat_2h")

_SATELLITE_NAMES = {v: k for k, v in _SATELLITES.items()}


@dataclass(frozen=True)
class TableInfo(_Mapping):
    """IaTableInfo: what a table holds. satellites is "subhalos" or "nfw" (the model the table
    was built for, "auto" resolved); box_size the three sides, Mpc/h; size_bytes the memory it
    holds. Readable as attributes or as info["key"]."""

    n_bins: int
    satellites: str
    n_hosts: int
    n_subhalos: int
    box_size: tuple
    size_bytes: int


class Expectation(NamedTuple):
    """ia_expect_batch: mean (n, 3, n_bins), rows xi, omega, eta, the expected (noise-free)
    correlations; n_galaxies (n,) the expected number of galaxies of each point."""

    mean: np.ndarray
    n_galaxies: np.ndarray


class Parts(NamedTuple):
    """ia_expect_parts: each part (n, 3, n_bins), rows xi, omega, eta (views into one
    (n, 5, 3, n_bins) array in PART_NAMES order). The xi parts add up to 1 + xi, the omega and
    eta parts to omega and eta."""

    cen_cen_2h: np.ndarray  # centrals of different hosts
    cen_sat_1h: np.ndarray  # a central and a satellite of its host
    cen_sat_2h: np.ndarray  # a central and a satellite of another host
    sat_sat_1h: np.ndarray  # two satellites of one host
    sat_sat_2h: np.ndarray  # two satellites of different hosts


def _expect_options(xi_normalization, satellites_times_centrals, threads) -> _lib.IaExpectOptions:
    opt = _lib.IaExpectOptions()
    check(lib.ia_expect_options_default(byref(opt)))
    opt.xi_normalization = _normalization(xi_normalization)
    opt.satellites_times_centrals = 1 if satellites_times_centrals else 0
    opt.n_threads = _lib.u32(threads, "threads")
    return opt


class Table(_Handle):
    """A table of a halo catalogue's pair sums (IaTable), from which any model point's expected
    xi, omega and eta follow in milliseconds: noise-free, the mean over realisations of
    simulate() on the same halos, with its parts and its exact Jacobian.

    Table(path) reads a table written by Table.save or `iaemu tabulate` (.npz);
    Table.build(halos, ...) tabulates a Halos (seconds to minutes).

    Thread-safety (C conventions): immutable, so one Table may be used from many Python threads
    at once; the GIL is released during every library call.
    """

    _free_name = "ia_table_free"
    _kind = "Table"

    def __init__(self, path):
        h = HANDLE()
        check(lib.ia_table_load(_lib.path_bytes(path), byref(h)))
        super().__init__(h.value)
        self.path = os.fspath(path)
        self._n_bins = self.info.n_bins

    @classmethod
    def build(
        cls,
        halos: Halos,
        *,
        r_edges=None,
        satellites="auto",
        min_host_particles=None,
        mass_bin_dex=None,
        draws_per_mass_bin=None,
        tracers_two_halo=None,
        seed=None,
        threads: int = 0,
    ) -> "Table":
        """Tabulates `halos` (ia_table_build). Options (IaTableOptions; None keeps the default of
        ia_table_options_default): r_edges (None: the 20 default bins), satellites ("auto",
        "subhalos", "nfw"), min_host_particles (300), mass_bin_dex (0.2; 0.01 to 1),
        draws_per_mass_bin (2^21), tracers_two_halo (1), seed (1), threads (0 = the default).
        With the defaults and the same edges it is the table of `iaemu tabulate`."""
        if not isinstance(halos, Halos):
            raise TypeError(f"halos: expected iaemu.Halos, got {type(halos).__name__}")
        opt = _lib.IaTableOptions()
        check(lib.ia_table_options_default(byref(opt)))
        e = _edges(r_edges)
        if e is not None:
            opt.r_edges = ptr(e)
            opt.n_edges = e.size
        if isinstance(satellites, str):
            if satellites not in _SATELLITES:
                raise ValueError(f"satellites: {satellites!r}; expected one of {sorted(_SATELLITES)}")
            satellites = _SATELLITES[satellites]
        opt.satellites = int(satellites)
        if min_host_particles is not None:
            opt.min_host_particles = float(min_host_particles)
        if mass_bin_dex is not None:
            opt.mass_bin_dex = float(mass_bin_dex)
        if draws_per_mass_bin is not None:
            opt.draws_per_mass_bin = _lib.u64(draws_per_mass_bin, "draws_per_mass_bin")
        if tracers_two_halo is not None:
            opt.tracers_two_halo = _lib.u32(tracers_two_halo, "tracers_two_halo")
        if seed is not None:
            opt.seed = _lib.u64(seed, "seed")
        opt.n_threads = _lib.u32(threads, "threads")
        h = HANDLE()
        check(lib.ia_table_build(halos._h(), byref(opt), byref(h)))
        table = cls.__new__(cls)
        _Handle.__init__(table, h.value)
        table.path = None
        table._n_bins = table.info.n_bins
        return table

    # ---- description ----

    @property
    def info(self) -> TableInfo:
        """ia_table_info, as a TableInfo (attribute or key access)."""
        ci = _lib.IaTableInfo()
        check(lib.ia_table_info(self._h(), byref(ci)))
        return TableInfo(
            n_bins=ci.n_bins,
            satellites=_SATELLITE_NAMES.get(ci.satellites, str(ci.satellites)),
            n_hosts=ci.n_hosts,
            n_subhalos=ci.n_subhalos,
            box_size=tuple(ci.box_size),
            size_bytes=ci.size_bytes,
        )

    @property
    def n_bins(self) -> int:
        self._h()
        return self._n_bins

    @property
    def r_edges(self) -> np.ndarray:
        """The table's n_bins + 1 bin edges, Mpc/h (ia_table_r_edges)."""
        out = np.empty(self._n_bins + 1)
        check(lib.ia_table_r_edges(self._h(), ptr(out), out.size))
        return out

    @property
    def r_mid(self) -> np.ndarray:
        """Bin centres: the arithmetic mean of each bin's edges."""
        e = self.r_edges
        return 0.5 * (e[:-1] + e[1:])

    def save(self, path) -> None:
        """Writes the table (.npz; complete or not at all) for Table(path) or `iaemu expect
        --table` (ia_table_save)."""
        check(lib.ia_table_save(self._h(), _lib.path_bytes(path)))

    # ---- evaluation ----

    def expect(self, params, *, xi_normalization="n_squared", satellites_times_centrals: bool = False,
               threads: int = 0) -> Expectation:
        """Expected xi, omega and eta (ia_expect_batch).

        params: (n, 7) in PARAM_NAMES order, or one point of shape (7,), which gives n = 1
        (mean of shape (1, 3, n_bins); take [0] for the point). Options (IaExpectOptions):
        xi_normalization ("n_squared", the default, or "n_n_minus_1"), satellites_times_centrals,
        threads (0 = the default). Raises InvalidArgumentError for an invalid point (NaN or
        infinite, |mu_cen| or |mu_sat| above 1, sigma_logM <= 0, fewer than 2 galaxies on
        average); every point is checked before any work."""
        p = _lib.as_params(params)
        opt = _expect_options(xi_normalization, satellites_times_centrals, threads)
        n, nb = p.shape[0], self._n_bins
        mean = np.empty((n, IA_N_STATISTICS, nb))
        n_gal = np.empty(n)
        check(lib.ia_expect_batch(self._h(), ptr(p), n, byref(opt), ptr(mean), mean.size, ptr(n_gal)))
        return Expectation(mean, n_gal)

    def jacobian(self, params, *, xi_normalization="n_squared", satellites_times_centrals: bool = False,
                 threads: int = 0) -> np.ndarray:
        """The exact derivatives of the expected xi, omega and eta with respect to the 7
        parameters (ia_expect_jacobian): jacobian[i, s, b, k] = d mean[i, s, b] / d params[i, k],
        shape (n, 3, n_bins, 7); NaN where a bin has no pairs. params and options as in
        expect() (whose mean these are the derivatives of)."""
        p = _lib.as_params(params)
        opt = _expect_options(xi_normalization, satellites_times_centrals, threads)
        n, nb = p.shape[0], self._n_bins
        jac = np.empty((n, IA_N_STATISTICS, nb, IA_N_PARAMS))
        check(lib.ia_expect_jacobian(self._h(), ptr(p), n, byref(opt), ptr(jac), jac.size))
        return jac

    def parts(self, params, *, xi_normalization="n_squared", satellites_times_centrals: bool = False,
              threads: int = 0) -> Parts:
        """The central/satellite and 1-halo/2-halo parts of the expected correlations
        (ia_expect_parts), each (n, 3, n_bins). params and options as in expect()."""
        p = _lib.as_params(params)
        opt = _expect_options(xi_normalization, satellites_times_centrals, threads)
        n, nb = p.shape[0], self._n_bins
        out = np.empty((n, IA_N_PARTS, IA_N_STATISTICS, nb))
        check(lib.ia_expect_parts(self._h(), ptr(p), n, byref(opt), ptr(out), out.size))
        return Parts(*(out[:, k] for k in range(IA_N_PARTS)))

    def __repr__(self) -> str:
        if self.closed:
            return "<iaemu.Table (closed)>"
        i = self.info
        return (f"<iaemu.Table {self.path or 'built'}: {i.n_hosts} hosts, {i.satellites} satellites, "
                f"{i.n_bins} bins>")

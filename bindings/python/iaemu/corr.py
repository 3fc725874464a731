"""Correlation functions: ia_correlate, ia_cross_correlate and the ia_corr_result_* accessors."""

from __future__ import annotations

import functools
from ctypes import byref, c_size_t, c_uint64
from dataclasses import dataclass

import numpy as np

from . import _lib
from ._lib import HANDLE, IA_XI_N_N_MINUS_1, IA_XI_N_SQUARED, check, lib, ptr

_NORMALIZATIONS = {"n_squared": IA_XI_N_SQUARED, "n_n_minus_1": IA_XI_N_N_MINUS_1}


@dataclass
class CorrResult:
    """What ia_correlate measured, copied out of the C result (which is freed at once).

    r_edges (n_bins + 1), r_mid, xi, omega, eta, weighted_pairs (n_bins, float64) and pairs
    (n_bins, uint64, ordered pairs). omega and eta are NaN in empty bins and without
    orientations. xi_var, omega_var, eta_var: jackknife variances (None without a jackknife);
    covariance: (3 n_bins, 3 n_bins) of (xi, omega, eta) concatenated (None unless asked)."""

    r_edges: np.ndarray
    r_mid: np.ndarray
    xi: np.ndarray
    omega: np.ndarray
    eta: np.ndarray
    pairs: np.ndarray
    weighted_pairs: np.ndarray
    xi_var: np.ndarray | None = None
    omega_var: np.ndarray | None = None
    eta_var: np.ndarray | None = None
    covariance: np.ndarray | None = None

    @property
    def n_bins(self) -> int:
        return self.xi.size

    @property
    def stacked(self) -> np.ndarray:
        """(3, n_bins): xi, omega, eta as rows (the layout of simulate and predict)."""
        return np.stack([self.xi, self.omega, self.eta])


def _normalization(v) -> int:
    if isinstance(v, str):
        try:
            return _NORMALIZATIONS[v]
        except KeyError:
            raise ValueError(f"normalization: {v!r}; expected one of {sorted(_NORMALIZATIONS)}") from None
    return int(v)


def _edges(r_edges):
    if r_edges is None:
        return None
    e = _lib.as_f64(r_edges, "r_edges")
    if e.ndim != 1 or e.size < 2:
        raise ValueError(f"r_edges: expected a 1-D array of at least 2 edges, got shape {e.shape}")
    return e


def _options(box_size, r_edges, normalization, jackknife_side, covariance, threads):
    if box_size is None:
        raise ValueError("box_size: required (the periodic box side, Mpc/h: one value or three)")
    box = _lib.as_f64(box_size, "box_size").reshape(-1)
    if box.size == 1:
        box = np.repeat(box, 3)
    if box.size != 3:
        raise ValueError(f"box_size: expected 1 or 3 values, got {box.size}")
    opt = _lib.IaCorrOptions()
    check(lib.ia_corr_options_default(float(box[0]), byref(opt)))
    opt.box_size[:] = [float(b) for b in box]
    if r_edges is not None:
        opt.r_edges = ptr(r_edges)
        opt.n_edges = r_edges.size
    opt.xi_normalization = _normalization(normalization)
    opt.jackknife_side = _lib.u32(jackknife_side, "jackknife_side")
    opt.covariance = 1 if covariance else 0
    opt.n_threads = _lib.u32(threads, "threads")
    return opt


def _sample(positions, orientations, weights, suffix=""):
    pos = _lib.as_f64(positions, "positions" + suffix)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise ValueError(f"positions{suffix}: expected shape (n, 3), got {pos.shape}")
    n = pos.shape[0]
    ori = None
    if orientations is not None:
        ori = _lib.as_f64(orientations, "orientations" + suffix)
        if ori.shape != (n, 3):
            raise ValueError(f"orientations{suffix}: expected shape ({n}, 3) like positions, got {ori.shape}")
    w = None
    if weights is not None:
        w = _lib.as_f64(weights, "weights" + suffix)
        if w.shape != (n,):
            raise ValueError(f"weights{suffix}: expected shape ({n},), got {w.shape}")
    return pos, ori, w, n


def _collect(h, jackknife_side, covariance) -> CorrResult:
    """Copies everything out of a C result and frees it (also when a copy fails)."""
    try:
        nb = c_size_t()
        check(lib.ia_corr_result_n_bins(h, byref(nb)))
        nb = nb.value

        def get(q, n):
            out = np.empty(n)
            check(lib.ia_corr_result_get(h, q, ptr(out), n))
            return out

        pairs = np.empty(nb, dtype=np.uint64)
        check(lib.ia_corr_result_pairs(h, ptr(pairs, c_uint64), nb))
        res = CorrResult(
            r_edges=get(_lib.IA_CORR_R_EDGES, nb + 1),
            r_mid=get(_lib.IA_CORR_R_MID, nb),
            xi=get(_lib.IA_CORR_XI, nb),
            omega=get(_lib.IA_CORR_OMEGA, nb),
            eta=get(_lib.IA_CORR_ETA, nb),
            pairs=pairs,
            weighted_pairs=get(_lib.IA_CORR_WEIGHTED_PAIRS, nb),
        )
        if jackknife_side:
            res.xi_var = get(_lib.IA_CORR_XI_VAR, nb)
            res.omega_var = get(_lib.IA_CORR_OMEGA_VAR, nb)
            res.eta_var = get(_lib.IA_CORR_ETA_VAR, nb)
            if covariance:
                res.covariance = get(_lib.IA_CORR_COVARIANCE, (3 * nb) ** 2).reshape(3 * nb, 3 * nb)
        return res
    finally:
        lib.ia_corr_result_free(h)


def correlate(
    positions,
    orientations=None,
    weights=None,
    *,
    box_size,
    r_edges=None,
    normalization="n_squared",
    jackknife_side: int = 0,
    covariance: bool = False,
    threads: int = 0,
) -> CorrResult:
    """Auto-correlation of one sample (ia_correlate): xi, omega, eta per bin.

    positions (n, 3) Mpc/h (wrapped into [0, L)); orientations (n, 3) or None (then only xi);
    weights (n,) or None; box_size one side or (Lx, Ly, Lz), each above 2 r_max; r_edges None
    for the 20 default bins (0.1 to 16 Mpc/h, log); normalization "n_squared" (halotools, the
    default) or "n_n_minus_1" (Corrfunc); jackknife_side 0 or 2..32 (n^3 sub-volumes, for
    xi_var etc.), covariance True for the full jackknife covariance; threads 0 = the default.
    C-contiguous float64 inputs are passed without a copy."""
    pos, ori, w, n = _sample(positions, orientations, weights)
    e = _edges(r_edges)
    opt = _options(box_size, e, normalization, jackknife_side, covariance, threads)
    h = HANDLE()
    check(lib.ia_correlate(ptr(pos), ptr(ori), ptr(w), n, byref(opt), byref(h)))
    return _collect(h, jackknife_side, covariance)


def cross_correlate(
    positions1,
    orientations1=None,
    weights1=None,
    positions2=None,
    orientations2=None,
    weights2=None,
    *,
    box_size,
    r_edges=None,
    normalization="n_squared",
    jackknife_side: int = 0,
    covariance: bool = False,
    threads: int = 0,
) -> CorrResult:
    """Cross-correlation of sample 1 with sample 2 (ia_cross_correlate): pairs (i in 1, j in 2);
    orientations1 give omega, orientations2 eta. Arguments in the C order; options as in
    correlate() (normalization "n_n_minus_1" is for auto-correlations only)."""
    if positions2 is None:
        raise ValueError("positions2: required (the second sample)")
    p1, o1, w1, n1 = _sample(positions1, orientations1, weights1, "1")
    p2, o2, w2, n2 = _sample(positions2, orientations2, weights2, "2")
    e = _edges(r_edges)
    opt = _options(box_size, e, normalization, jackknife_side, covariance, threads)
    h = HANDLE()
    check(
        lib.ia_cross_correlate(
            ptr(p1), ptr(o1), ptr(w1), n1, ptr(p2), ptr(o2), ptr(w2), n2, byref(opt), byref(h)
        )
    )
    return _collect(h, jackknife_side, covariance)


@functools.lru_cache(maxsize=1)
def _default_r_edges() -> tuple:
    # The library's own default edges, read from a correlation of two points (cheap), so that
    # they are bit-identical to what ia_simulate and ia_correlate use with r_edges = NULL.
    pos = np.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    return tuple(correlate(pos, box_size=100.0).r_edges)


def default_r_edges() -> np.ndarray:
    """The 21 default bin edges (20 log bins from 0.1 to 16 Mpc/h), as the library makes them."""
    return np.array(_default_r_edges())

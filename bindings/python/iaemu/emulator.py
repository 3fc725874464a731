"""The emulator: ia_emulator_* and ia_predict_*."""

from __future__ import annotations

import os
import threading
from ctypes import byref, c_uint32
from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

from . import _lib
from ._handle import _Handle
from ._lib import HANDLE, IA_N_PARAMS, IA_N_STATISTICS, check, lib, ptr
from .errors import IA_ERR_OUT_OF_DOMAIN


class _Mapping:
    """Read access by key as well as by attribute: info["n_bins"] == info.n_bins."""

    def keys(self):
        return [f.name for f in fields(self)]

    def __getitem__(self, key):
        if key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key, default=None):
        return getattr(self, key) if key in self.keys() else default

    def __iter__(self):
        return iter(self.keys())

    def __contains__(self, key):
        return key in self.keys()

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.keys()}


@dataclass(frozen=True)
class EmulatorInfo(_Mapping):
    """IaEmulatorInfo: sizes, training domain, device and the test metrics (NaN when the model
    has none). Per-parameter arrays have 7 values in PARAM_NAMES order; per-statistic arrays 3
    (xi, omega, eta). Readable as attributes or as info["key"]."""

    n_params: int
    n_statistics: int
    n_bins: int
    domain_min: np.ndarray
    domain_max: np.ndarray
    log_xi: bool
    on_cuda: bool
    n_weights: int
    n_train: int
    epochs: int
    pcc_mean: np.ndarray
    frac_err_median: np.ndarray
    coverage_1sigma: np.ndarray
    coverage_2sigma: np.ndarray


class Prediction(NamedTuple):
    """ia_predict_batch: each array (n, 3, n_bins), rows xi, omega, eta, in physical units;
    flags (n,) uint32, bit k set when parameter k is outside the training domain."""

    mean: np.ndarray
    aleatoric_var: np.ndarray
    epistemic_var: np.ndarray
    flags: np.ndarray


class Jacobian(NamedTuple):
    """ia_predict_jacobian: the plain (dropout off) mean (n, 3, n_bins) and
    jacobian[i, s, b, k] = d mean[i, s, b] / d params[i, k], shape (n, 3, n_bins, 7)."""

    mean: np.ndarray
    jacobian: np.ndarray
    flags: np.ndarray


class Emulator(_Handle):
    """An emulator model (IaEmulator).

    Emulator() loads the model built into the library; Emulator(path) a `.safetensors` file
    written by `iaemu train` or `iaemu.train`. `device`: "auto" (CUDA when present, else the
    CPU; also what None means), "cpu", "cuda" or "cuda:N".

    Thread-safety (C conventions): one Emulator may be used from many Python threads at once.
    The GIL is released during every library call; calls on one model are serialised inside the
    library (each already uses all LibTorch threads) and Monte Carlo calls process-wide, so
    concurrent calls give the numbers of sequential ones. Setting allow_extrapolation is atomic.
    """

    _free_name = "ia_emulator_free"
    _kind = "Emulator"

    def __init__(self, path=None, device=None):
        h = HANDLE()
        cpath = None if path is None else os.fsencode(os.fspath(path))
        cdev = None if device is None else str(device).encode()
        check(lib.ia_emulator_load(cpath, cdev, byref(h)))
        super().__init__(h.value)
        self.path = None if path is None else os.fspath(path)
        self.requested_device = "auto" if device is None else str(device)
        self._allow = False
        self._allow_lock = threading.Lock()
        info = self.info
        self._n_bins = info.n_bins
        self._on_cuda = info.on_cuda

    # ---- description ----

    @property
    def info(self) -> EmulatorInfo:
        """ia_emulator_info, as an EmulatorInfo (attribute or key access)."""
        ci = _lib.IaEmulatorInfo()
        check(lib.ia_emulator_info(self._h(), byref(ci)))
        arr = lambda a: np.array(a[:], dtype=np.float64)  # noqa: E731
        return EmulatorInfo(
            n_params=ci.n_params,
            n_statistics=ci.n_statistics,
            n_bins=ci.n_bins,
            domain_min=arr(ci.domain_min),
            domain_max=arr(ci.domain_max),
            log_xi=bool(ci.log_xi),
            on_cuda=bool(ci.on_cuda),
            n_weights=ci.n_weights,
            n_train=ci.n_train,
            epochs=ci.epochs,
            pcc_mean=arr(ci.pcc_mean),
            frac_err_median=arr(ci.frac_err_median),
            coverage_1sigma=arr(ci.coverage_1sigma),
            coverage_2sigma=arr(ci.coverage_2sigma),
        )

    @property
    def n_bins(self) -> int:
        self._h()
        return self._n_bins

    @property
    def r_edges(self) -> np.ndarray:
        """The model's n_bins + 1 bin edges, Mpc/h (ia_emulator_r_edges)."""
        out = np.empty(self._n_bins + 1)
        check(lib.ia_emulator_r_edges(self._h(), ptr(out), out.size))
        return out

    @property
    def r_mid(self) -> np.ndarray:
        """Bin centres: the arithmetic mean of each bin's edges (as the library reports them)."""
        e = self.r_edges
        return 0.5 * (e[:-1] + e[1:])

    @property
    def device(self) -> str:
        """Where the model runs: "cuda" or "cpu"."""
        self._h()
        return "cuda" if self._on_cuda else "cpu"

    @property
    def allow_extrapolation(self) -> bool:
        """False (the default): points outside the training domain raise OutOfDomainError.
        True: they are predicted (still flagged). Set through ia_emulator_set_extrapolation."""
        self._h()
        return self._allow

    @allow_extrapolation.setter
    def allow_extrapolation(self, allow: bool) -> None:
        with self._allow_lock:
            check(lib.ia_emulator_set_extrapolation(self._h(), 1 if allow else 0))
            self._allow = bool(allow)

    # ---- prediction ----

    def predict(self, params, mc_passes: int = 20, seed: int = 0) -> Prediction:
        """Predicts xi, omega and eta with Monte Carlo dropout (ia_predict_batch).

        params: (n, 7) in PARAM_NAMES order, or one point of shape (7,), which gives n = 1
        (arrays of shape (1, 3, n_bins); take [0] for the point). mc_passes >= 1 (1: the plain
        prediction, zero epistemic variance); the same (params, mc_passes, seed) give the same
        numbers. Raises OutOfDomainError (with .flags) for points outside the training domain
        unless allow_extrapolation, InvalidArgumentError for NaN or infinite parameters."""
        p = _lib.as_params(params)
        passes = _lib.u32(mc_passes, "mc_passes")
        s = _lib.u64(seed, "seed")
        n, nb = p.shape[0], self._n_bins
        mean = np.empty((n, IA_N_STATISTICS, nb))
        ale = np.empty((n, IA_N_STATISTICS, nb))
        epi = np.empty((n, IA_N_STATISTICS, nb))
        flags = np.zeros(n, dtype=np.uint32)
        st = lib.ia_predict_batch(
            self._h(), ptr(p), n, passes, s, ptr(mean), ptr(ale), ptr(epi), ptr(flags, c_uint32)
        )
        check(st, flags if st == IA_ERR_OUT_OF_DOMAIN else None)
        return Prediction(mean, ale, epi, flags)

    def jacobian(self, params) -> Jacobian:
        """The plain predicted means and their derivatives with respect to the 7 parameters by
        automatic differentiation (ia_predict_jacobian). params as in predict()."""
        p = _lib.as_params(params)
        n, nb = p.shape[0], self._n_bins
        mean = np.empty((n, IA_N_STATISTICS, nb))
        jac = np.empty((n, IA_N_STATISTICS, nb, IA_N_PARAMS))
        flags = np.zeros(n, dtype=np.uint32)
        st = lib.ia_predict_jacobian(self._h(), ptr(p), n, ptr(mean), ptr(jac), ptr(flags, c_uint32))
        check(st, flags if st == IA_ERR_OUT_OF_DOMAIN else None)
        return Jacobian(mean, jac, flags)

    def __repr__(self) -> str:
        if self.closed:
            return "<iaemu.Emulator (closed)>"
        return f"<iaemu.Emulator {self.path or 'built-in'} on {self.device}, {self._n_bins} bins>"

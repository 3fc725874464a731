"""Cobaya components for iaemu (SAMPLERS.md).

IAEmulatorTheory, a cobaya.theory.Theory: the 7 iaemu parameters in, the emulator's xi, omega
and eta with their aleatoric and epistemic variances out; or, given a table (table_path: a file
of `iaemu tabulate` or iaemu.Table.save) instead of an emulator model, the expected (noise-free)
xi, omega and eta of iaemu.Table.expect, with zero variances. IAGaussianLikelihood, a
cobaya.likelihood.Likelihood: a Gaussian log-likelihood of a data vector (an .npz mock, see
examples/make_mock.py) given those predictions.

In a Cobaya input (with this folder, bindings/python, on PYTHONPATH):

    theory:
      iaemu_cobaya.IAEmulatorTheory: {mc_passes: 20, seed: 0, threads: 1}
    likelihood:
      iaemu_cobaya.IAGaussianLikelihood: {data_file: mock.npz, statistics: [omega, eta]}
    params:
      mu_cen: {prior: {min: -0.99, max: 0.99}}
      ...   # all 7 of iaemu.PARAM_NAMES, sampled or fixed

Products (provider.get_result(name), each a NumPy array over the model's radial bins):
  ia_xi, ia_omega, ia_eta                                   predicted means
  ia_xi_aleatoric_var, ia_omega_aleatoric_var, ia_eta_aleatoric_var
  ia_xi_epistemic_var, ia_omega_epistemic_var, ia_eta_epistemic_var
  ia_r (bin centres, Mpc/h, n_bins), ia_r_edges (n_bins + 1), ia_flags (domain flags, an int)
"""

from __future__ import annotations

import os

import numpy as np
from cobaya.likelihood import Likelihood
from cobaya.log import LoggedError
from cobaya.theory import Theory

import iaemu
from iaemu.datavector import gaussian_loglike, load_data_vector

PARAM_NAMES: tuple = tuple(iaemu.PARAM_NAMES)
STATISTICS = ("xi", "omega", "eta")
VARIANCE_KINDS = ("aleatoric", "epistemic")
PRODUCTS = (
    tuple(f"ia_{s}" for s in STATISTICS)
    + tuple(f"ia_{s}_{k}_var" for k in VARIANCE_KINDS for s in STATISTICS)
    + ("ia_r", "ia_r_edges", "ia_flags")
)


class IAEmulatorTheory(Theory):
    """The iaemu emulator, or a table of expected correlations, as a Cobaya theory.

    Input parameters: the 7 of iaemu.PARAM_NAMES (mu_cen, mu_sat, logMmin, sigma_logM, logM0,
    logM1, alpha), each to be given in `params` (sampled, fixed or derived from others).
    Options:
      model_path           .safetensors model file; null: the model built into the library
      table_path           a table (.npz from `iaemu tabulate` or iaemu.Table.save) instead of
                           an emulator model: the products are then the expected (noise-free)
                           xi, omega and eta of iaemu.Table.expect (the mean over realisations
                           of simulate on the tabulated halos, default options), the aleatoric
                           and epistemic variances zero and ia_flags 0; an invalid point (|mu|
                           above 1, sigma_logM <= 0, fewer than 2 galaxies on average, ...)
                           gets zero likelihood. mc_passes, seed, device and
                           allow_extrapolation do not apply. Not together with model_path.
      mc_passes            Monte Carlo dropout passes per point (1: plain, no epistemic variance)
      seed                 Monte Carlo seed. Fixed for the run, so every point sees the same
                           dropout masks and the predictions are a smooth, deterministic
                           function of the parameters (what a sampler needs).
      device               "auto" (null), "cpu", "cuda" or "cuda:N"
      allow_extrapolation  false: a point outside the model's training domain gets zero
                           likelihood (the calculation fails, Cobaya rejects the point);
                           true: it is predicted anyway (the flags say so, ia_flags).
      threads              0: leave iaemu's thread count alone (IAEMU_NUM_THREADS, else all
                           cores); n > 0: iaemu.set_num_threads(n), which is process-wide and
                           also sets LibTorch's threads. 1 suits one-point-at-a-time sampling:
                           as fast on an idle machine, and tens of times faster than 2 threads
                           when the cores are shared (several chains, other jobs).
    """

    model_path: str | None = None
    table_path: str | None = None
    mc_passes: int = 20
    seed: int = 0
    device: str | None = None
    allow_extrapolation: bool = False
    threads: int = 0

    def initialize(self):
        if int(self.mc_passes) < 1:
            raise LoggedError(self.log, "mc_passes must be at least 1, got %r", self.mc_passes)
        if int(self.threads) < 0:
            raise LoggedError(self.log, "threads must be 0 (the default) or positive, got %r", self.threads)
        if int(self.threads) > 0:
            iaemu.set_num_threads(int(self.threads))
        self._emulator = self._table = None
        if self.table_path is not None:
            self._initialize_table()
            return
        path = self.model_path
        if path is not None:
            path = os.path.expanduser(str(path))
        try:
            self._emulator = iaemu.Emulator(path, self.device)
            self._emulator.allow_extrapolation = bool(self.allow_extrapolation)
        except iaemu.IAEmuError as e:
            raise LoggedError(self.log, "loading the iaemu emulator failed: %s", e) from e
        self._r_edges = self._emulator.r_edges
        self._r_mid = self._emulator.r_mid
        info = self._emulator.info
        self._domain = (info.domain_min, info.domain_max)
        self.log.info(
            "iaemu %s, model %s on %s, %d bins, %d Monte Carlo passes, seed %d",
            iaemu.version(), path or "built-in", self._emulator.device, info.n_bins,
            int(self.mc_passes), int(self.seed),
        )

    def _initialize_table(self):
        if self.model_path is not None:
            raise LoggedError(self.log, "give model_path (an emulator) or table_path (a table), not both")
        path = os.path.expanduser(str(self.table_path))
        try:
            self._table = iaemu.Table(path)
        except iaemu.IAEmuError as e:
            raise LoggedError(self.log, "loading the iaemu table failed: %s", e) from e
        self._r_edges = self._table.r_edges
        self._r_mid = self._table.r_mid
        self._domain = None
        info = self._table.info
        self.log.info(
            "iaemu %s, table %s: %d hosts (%s satellites), %d bins; expected correlations, zero variances",
            iaemu.version(), path, info.n_hosts, info.satellites, info.n_bins,
        )

    @property
    def emulator(self) -> "iaemu.Emulator | None":
        """The loaded iaemu.Emulator (None with a table)."""
        return self._emulator

    @property
    def table(self) -> "iaemu.Table | None":
        """The loaded iaemu.Table (None with an emulator)."""
        return self._table

    @property
    def domain(self) -> tuple | None:
        """(domain_min, domain_max) of the model, 7 values each in PARAM_NAMES order (None with
        a table, which has no training domain)."""
        return self._domain

    def get_can_support_params(self):
        return list(PARAM_NAMES)

    def initialize_with_params(self):
        missing = [p for p in PARAM_NAMES if p not in self.input_params]
        if missing:
            raise LoggedError(
                self.log,
                "the iaemu theory needs all 7 parameters %s; missing from params: %s",
                ", ".join(PARAM_NAMES), ", ".join(missing),
            )

    def get_can_provide(self):
        return list(PRODUCTS)

    def must_provide(self, **requirements):
        super().must_provide(**requirements)
        unknown = [name for name in requirements if name not in PRODUCTS]
        if unknown:  # Cobaya only sends what get_can_provide lists; kept as a guard
            raise LoggedError(self.log, "the iaemu theory cannot provide %s", unknown)
        self._requested = set(requirements)
        return None

    def get_requirements(self):
        return {}

    def calculate(self, state, want_derived=True, **params_values_dict):
        point = np.array([params_values_dict[p] for p in PARAM_NAMES], dtype=np.float64)
        if self._table is not None:
            return self._calculate_table(state, point)
        try:
            pred = self._emulator.predict(point, mc_passes=int(self.mc_passes), seed=int(self.seed))
        except iaemu.OutOfDomainError as e:
            # Outside the training domain and extrapolation not allowed: zero likelihood.
            self.log.debug("point outside the emulator's domain: %s", e)
            return False
        for s, name in enumerate(STATISTICS):
            state[f"ia_{name}"] = pred.mean[0, s].copy()
            state[f"ia_{name}_aleatoric_var"] = pred.aleatoric_var[0, s].copy()
            state[f"ia_{name}_epistemic_var"] = pred.epistemic_var[0, s].copy()
        state["ia_r"] = self._r_mid.copy()
        state["ia_r_edges"] = self._r_edges.copy()
        state["ia_flags"] = int(pred.flags[0])
        return True

    def _calculate_table(self, state, point):
        try:
            e = self._table.expect(point)
        except iaemu.InvalidArgumentError as err:
            # A point the model cannot populate (|mu| above 1, sigma_logM <= 0, too few
            # galaxies, ...): zero likelihood.
            self.log.debug("point refused by the table: %s", err)
            return False
        zeros = np.zeros(self._r_mid.size)
        for s, name in enumerate(STATISTICS):
            state[f"ia_{name}"] = e.mean[0, s].copy()
            state[f"ia_{name}_aleatoric_var"] = zeros.copy()
            state[f"ia_{name}_epistemic_var"] = zeros.copy()
        state["ia_r"] = self._r_mid.copy()
        state["ia_r_edges"] = self._r_edges.copy()
        state["ia_flags"] = 0
        return True

    def get_version(self):
        return iaemu.version()

    def close(self, *args):
        for name in ("_emulator", "_table"):
            handle = getattr(self, name, None)
            if handle is not None:
                handle.close()
                setattr(self, name, None)


class IAGaussianLikelihood(Likelihood):
    """Gaussian likelihood of a mock data vector given IAEmulatorTheory's predictions, with
    independent bins: variance = data variance + emulator aleatoric + emulator epistemic (each
    emulator term can be switched off).

    Options:
      data_file       .npz with r (n_bins), mean (3, n_bins) and var (3, n_bins), the variance
                      of `mean` (examples/make_mock.py writes one)
      statistics      which of xi, omega, eta enter (default all three)
      r_min, r_max    only bins whose centre r lies in [r_min, r_max] Mpc/h
      use_aleatoric   add the emulator's aleatoric variance (default true)
      use_epistemic   add the emulator's epistemic variance (default true)
      use_data_var    add the data file's variance (default true)
    Bins where the data are not finite (an empty bin) are left out. The data file's r must
    match the emulator's (or the table's) bin centres (checked at the first evaluation). With a
    table theory the model variances are zero: keep use_data_var.
    """

    data_file: str | None = None
    statistics: list = list(STATISTICS)
    r_min: float = 0.0
    r_max: float = float("inf")
    use_aleatoric: bool = True
    use_epistemic: bool = True
    use_data_var: bool = True

    def initialize(self):
        if not self.data_file:
            raise LoggedError(self.log, "data_file (the mock .npz) is required")
        stats = [self.statistics] if isinstance(self.statistics, str) else list(self.statistics)
        bad = [s for s in stats if s not in STATISTICS]
        if bad or not stats:
            raise LoggedError(self.log, "statistics must be a non-empty subset of %s, got %r", STATISTICS, stats)
        self._stats = [s for s in STATISTICS if s in stats]
        try:
            data = load_data_vector(self.data_file)
        except (OSError, ValueError) as e:
            raise LoggedError(self.log, "cannot read data_file: %s", e) from e
        self._r = data["r"]
        rows = [STATISTICS.index(s) for s in self._stats]
        in_range = (self._r >= float(self.r_min)) & (self._r <= float(self.r_max))
        mask = np.zeros((3, self._r.size), dtype=bool)
        mask[rows] = in_range
        mask &= np.isfinite(data["mean"])
        if self.use_data_var:
            mask &= np.isfinite(data["var"])
        if not mask.any():
            raise LoggedError(self.log, "no data points left after choosing statistics and r range")
        self._mask = mask
        self._data = data["mean"][mask]
        self._data_var = data["var"][mask] if self.use_data_var else np.zeros(self._data.size)
        self._checked_r = False
        self.log.info(
            "%d data points (%s; r in [%g, %g] Mpc/h) from %s",
            self._data.size, ", ".join(self._stats), float(self.r_min), float(self.r_max), self.data_file,
        )

    @property
    def n_data(self) -> int:
        return int(self._data.size)

    @property
    def mask(self) -> np.ndarray:
        """(3, n_bins) bool: the entries of the data vector that enter the likelihood."""
        return self._mask

    def get_requirements(self):
        req = {"ia_r": None}
        for s in STATISTICS:  # all three rows, so that the (3, n_bins) mask applies as is
            req[f"ia_{s}"] = None
            if self.use_aleatoric:
                req[f"ia_{s}_aleatoric_var"] = None
            if self.use_epistemic:
                req[f"ia_{s}_epistemic_var"] = None
        return req

    def model_vector(self):
        """The current (model mean, model variance) at the masked entries."""
        get = self.provider.get_result
        if not self._checked_r:
            r = np.asarray(get("ia_r"))
            if r.shape != self._r.shape or not np.allclose(r, self._r, rtol=1e-9, atol=0):
                raise LoggedError(
                    self.log, "data_file bins (r = %s) differ from the theory's (r = %s)", self._r, r
                )
            self._checked_r = True
        mean = np.stack([get(f"ia_{s}") for s in STATISTICS])
        var = np.zeros_like(mean)
        if self.use_aleatoric:
            var += np.stack([get(f"ia_{s}_aleatoric_var") for s in STATISTICS])
        if self.use_epistemic:
            var += np.stack([get(f"ia_{s}_epistemic_var") for s in STATISTICS])
        return mean[self._mask], var[self._mask]

    def logp(self, **params_values):
        mean, var = self.model_vector()
        return gaussian_loglike(self._data, mean, var + self._data_var)

"""A mock data vector and its Gaussian log-likelihood, shared by the Cobaya theory and likelihood
(iaemu_cobaya.py) and the CosmoSIS module (cosmosis/iaemu_cosmosis.py)."""

from __future__ import annotations

import os

import numpy as np


def load_data_vector(path) -> dict:
    """Reads a mock data vector .npz (examples/make_mock.py): r (n_bins bin centres, Mpc/h),
    mean (3, n_bins: xi, omega, eta) and var (3, n_bins: the variance of `mean`). Checks the
    shapes; returns a dict of float64 arrays (plus whatever else the file holds)."""
    with np.load(os.path.expanduser(str(path))) as f:
        data = {k: f[k] for k in f.files}
    for key in ("r", "mean", "var"):
        if key not in data:
            raise ValueError(f"{path}: no '{key}' array (expected r, mean, var)")
    r = np.asarray(data["r"], dtype=np.float64)
    mean = np.asarray(data["mean"], dtype=np.float64)
    var = np.asarray(data["var"], dtype=np.float64)
    if r.ndim != 1 or mean.shape != (3, r.size) or var.shape != (3, r.size):
        raise ValueError(
            f"{path}: expected r (n_bins,), mean and var (3, n_bins); got {r.shape}, {mean.shape}, {var.shape}"
        )
    data.update(r=r, mean=mean, var=var)
    return data


def gaussian_loglike(data, model, variance) -> float:
    """-1/2 sum[(data - model)^2 / variance + log(2 pi variance)] over all entries; -inf for a
    non-positive or non-finite variance. The normalisation term is kept because the emulator's
    variances depend on the parameters."""
    data, model, variance = (np.asarray(a, dtype=np.float64) for a in (data, model, variance))
    if np.any(~np.isfinite(variance)) or np.any(variance <= 0):
        return -np.inf
    d = data - model
    return float(-0.5 * np.sum(d * d / variance + np.log(2.0 * np.pi * variance)))

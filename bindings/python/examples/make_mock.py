"""Makes a mock data vector for the sampler examples (SAMPLERS.md): xi, omega and eta simulated
with iaemu.simulate (ia_simulate) at a chosen truth point on a synthetic universe, written as
an .npz that iaemu_cobaya.IAGaussianLikelihood and cosmosis/iaemu_cosmosis.py read.

    PYTHONPATH=bindings/python .venv-bindings/bin/python bindings/python/examples/make_mock.py \
        --out mock.npz [--mu-cen 0.5 --mu-sat 0.2] [--box 160 --grid 128 --realizations 8]

The file holds:
  r               (n_bins,)    bin centres, Mpc/h (the arithmetic mean of the edges)
  r_edges         (n_bins + 1,)
  mean            (3, n_bins)  xi, omega, eta averaged over the realisations
  var             (3, n_bins)  the variance of `mean`: var_realization / n_realizations
  var_realization (3, n_bins)  the variance between realisations (ia_simulate, divisor R - 1)
  n_realizations, params (7,), param_names, box_size, grid, halo_seed, seed
The defaults (a 160 Mpc/h box on the default 128 grid) make a mock in seconds. The built-in
emulator was trained on the default universe (250 Mpc/h on the same grid, so coarser halos):
for data from the model's own universe use --box 250.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import iaemu

# The "-20" point of the seed paper (reference.sh point 0); the HOD parameters the sampler
# examples keep fixed.
POINT_20 = dict(mu_cen=0.8, mu_sat=0.8, logMmin=12.02, sigma_logM=0.26, logM0=11.38, logM1=13.31, alpha=1.06)
TRUTH_MU = dict(mu_cen=0.5, mu_sat=0.2)


def make_mock(out, params=None, box_size=160.0, grid=128, halo_seed=1, seed=1, n_realizations=8,
              threads=0, verbose=False) -> dict:
    """Simulates the data vector and writes it to `out` (.npz). `params`: 7 values in
    iaemu.PARAM_NAMES order, or a dict by name (missing names from POINT_20 with TRUTH_MU).
    Returns the arrays written."""
    if params is None or isinstance(params, dict):
        point = {**POINT_20, **TRUTH_MU, **(params or {})}
        unknown = set(point) - set(iaemu.PARAM_NAMES)
        if unknown:
            raise ValueError(f"unknown parameters {sorted(unknown)}; the names are {iaemu.PARAM_NAMES}")
        params = [point[n] for n in iaemu.PARAM_NAMES]
    params = np.asarray(params, dtype=np.float64)
    if params.shape != (len(iaemu.PARAM_NAMES),):
        raise ValueError(f"params: expected {len(iaemu.PARAM_NAMES)} values, got shape {params.shape}")
    if n_realizations < 2:
        raise ValueError("n_realizations must be at least 2 (the variance needs two)")
    parent = os.path.dirname(os.fspath(out))
    if parent:
        os.makedirs(parent, exist_ok=True)
    t0 = time.time()
    halos = iaemu.Halos.synthetic(box_size=box_size, grid=grid, seed=halo_seed, threads=threads)
    t1 = time.time()
    sim = iaemu.simulate(halos, params, n_realizations=n_realizations, seed=seed, threads=threads)
    t2 = time.time()
    halos.close()
    edges = np.asarray(sim.r_edges, dtype=np.float64)
    arrays = dict(
        r=0.5 * (edges[:-1] + edges[1:]),
        r_edges=edges,
        mean=np.asarray(sim.mean, dtype=np.float64),
        var=np.asarray(sim.var, dtype=np.float64) / n_realizations,
        var_realization=np.asarray(sim.var, dtype=np.float64),
        n_realizations=np.int64(n_realizations),
        params=params,
        param_names=np.array(iaemu.PARAM_NAMES),
        box_size=np.float64(box_size),
        grid=np.int64(grid),
        halo_seed=np.int64(halo_seed),
        seed=np.int64(seed),
    )
    np.savez(out, **arrays)
    if verbose:
        print(f"universe: box {box_size:g} Mpc/h, grid {grid}, seed {halo_seed} in {t1 - t0:.1f} s; "
              f"{n_realizations} realisations (seed {seed}) in {t2 - t1:.1f} s")
        print("truth: " + ", ".join(f"{n} = {v:g}" for n, v in zip(iaemu.PARAM_NAMES, params)))
        print(f"wrote {out}")
    return arrays


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output .npz")
    ap.add_argument("--params", help="all 7 parameters, comma separated, in iaemu.PARAM_NAMES order")
    for name in iaemu.PARAM_NAMES:
        ap.add_argument("--" + name.replace("_", "-"), dest=name, type=float,
                        help=f"(default {({**POINT_20, **TRUTH_MU})[name]:g})")
    ap.add_argument("--box", type=float, default=160.0, help="box side, Mpc/h (default 160)")
    ap.add_argument("--grid", type=int, default=128, help="FFT grid of the synthetic universe (default 128)")
    ap.add_argument("--halo-seed", type=int, default=1, help="seed of the synthetic universe (default 1)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the galaxies (default 1)")
    ap.add_argument("--realizations", type=int, default=8, help="realisations averaged (default 8)")
    ap.add_argument("--threads", type=int, default=0, help="threads (default: all cores)")
    a = ap.parse_args(argv)
    if a.params:
        params = [float(x) for x in a.params.split(",")]
        if any(getattr(a, n) is not None for n in iaemu.PARAM_NAMES):
            ap.error("give --params or single parameters, not both")
    else:
        params = {n: getattr(a, n) for n in iaemu.PARAM_NAMES if getattr(a, n) is not None}
    make_mock(a.out, params, a.box, a.grid, a.halo_seed, a.seed, a.realizations, a.threads, verbose=True)


if __name__ == "__main__":
    main()

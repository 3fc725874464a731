"""The three halotools 0.9.4 calls that measure xi, omega and eta of one periodic sample, timed
one by one. Shared by make_halotools_fixture.py (the fixture) and bench.py (the benchmark)."""

import time

import numpy as np


def three_statistics(pos, ori, edges, box, threads):
    """tpcf (natural estimator), ed_3d and ee_3d of `pos` (N x 3) with orientations `ori`
    against itself; returns ({call: seconds}, xi, omega, eta)."""
    from halotools.mock_observables import tpcf, ed_3d, ee_3d

    t = {}
    t0 = time.perf_counter()
    xi = tpcf(pos, edges, period=box, estimator="Natural", num_threads=threads)
    t["tpcf"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    omega = ed_3d(pos, ori, sample2=pos, rbins=edges, period=box, num_threads=threads)
    t["ed_3d"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    eta = ee_3d(pos, ori, sample2=pos, orientations2=ori, rbins=edges, period=box, num_threads=threads)
    t["ee_3d"] = time.perf_counter() - t0
    return t, np.asarray(xi), np.asarray(omega), np.asarray(eta)

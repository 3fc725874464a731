"""The MPI example: 2 ranks through mpirun make a small dataset; every gathered point must equal
the same point simulated serially in this process through iaemu.simulate (same universe file,
same seed), and the design must be a Latin hypercube inside the emulator's domain."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
LIBDIR = ROOT / os.environ.get("IAEMU_TEST_LIBDIR", "target/release")
OUT = ROOT / "target" / "bindings-python"
os.environ.setdefault("IAEMU_LIB", str(LIBDIR / "libiaemu.so"))
sys.path.insert(0, str(ROOT / "bindings" / "python"))

import iaemu  # noqa: E402

N, R, SEED = 6, 2, 5
CHECKED = {"reference": 0, "consistency": 0}


def test_mpi_generate_matches_serial():
    mpirun = shutil.which("mpirun")
    assert mpirun, "mpirun not found: run bash bindings/python/setup.sh"
    out = OUT / "mpi"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "2", sys.executable,
           str(ROOT / "bindings" / "python" / "examples" / "mpi_generate.py"),
           "--n", str(N), "--realizations", str(R), "--seed", str(SEED), "--design", "lhs",
           "--box", "60", "--grid", "32", "--threads", "1", "--out", str(out)]
    env = dict(os.environ, OMPI_MCA_rmaps_base_oversubscribe="1")
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    meta = json.loads((out / "meta.json").read_text())
    mpi = meta["mpi"]
    assert mpi["mpi_size"] == 2 and sorted(set(mpi["rank_of_point"])) == [0, 1]
    assert mpi["rank_of_point"] == [i % 2 for i in range(N)]
    params = np.load(out / "params.npy")
    mean, var, valid = np.load(out / "mean.npy"), np.load(out / "var.npy"), np.load(out / "valid.npy")
    assert params.shape == (N, 7) and mean.shape == var.shape == (N, 3, 20) and valid.shape == (N,)

    # The design: a Latin hypercube inside the emulator's training domain.
    with iaemu.Emulator(device="cpu") as emu:
        lo, hi = emu.info.domain_min, emu.info.domain_max
    assert ((params >= lo) & (params <= hi)).all()
    strata = np.floor((params - lo) / (hi - lo) * N).astype(int)
    for k in range(7):
        assert sorted(strata[:, k]) == list(range(N)), f"parameter {k} is not one point per stratum"

    # The same universe as a fresh one with the same settings, and each point run serially.
    with iaemu.Halos.load(out / "halos.npz") as halos, \
            iaemu.Halos.synthetic(box_size=60, grid=32, seed=1) as fresh:
        for name in ("halo_x", "halo_mvir", "halo_axisA_z"):
            assert np.array_equal(halos.column(name), fresh.column(name))
        n_valid = 0
        for i in range(N):
            try:
                s = iaemu.simulate(halos, params[i], R, SEED + i)
            except iaemu.InvalidArgumentError as e:
                assert valid[i] == 0 and np.isnan(mean[i]).all(), (i, e.message)
                assert mpi["invalid_points"][str(i)] == e.message
                continue
            assert valid[i] == 1
            n_valid += 1
            np.testing.assert_allclose(mean[i], s.mean, rtol=1e-9, atol=1e-300, equal_nan=True)
            np.testing.assert_allclose(var[i], s.var, rtol=1e-9, atol=1e-300, equal_nan=True)
            CHECKED["consistency"] += mean[i].size + var[i].size
        assert n_valid >= N // 2, f"only {n_valid} of {N} points put galaxies in the box"
    np.testing.assert_array_equal(np.load(out / "r_edges.npy"), iaemu.default_r_edges())
    CHECKED["consistency"] += 21

    # The folder is a dataset the command line reads: the built-in model evaluated on every
    # valid row.
    run = subprocess.run([str(LIBDIR / "iaemu"), "evaluate", "--all", "--mc", "2", "--data", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{n_valid} curves" in run.stderr, run.stderr

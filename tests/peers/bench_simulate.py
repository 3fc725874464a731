"""One realisation (populate + xi, omega, eta) with iaemu and with halotools 0.9.4 on the same
halos, one core each, in the same run (issue: simulation speed).

The halos: iaemu's default synthetic universe written as a halotools cache file by
`iaemu halos synth` (or --halos FILE). The model point: the -20 magnitude point of Zheng et al.
(2007) Table 1 with mu_cen = mu_sat = 0.8. halotools builds the same model as
tests/peers/make_halotools_hod_fixture.py (Zheng07Cens, Zheng07Sats, SubhaloPhaseSpace,
CentralAlignment, RadialSatelliteAlignment), then tpcf, ed_3d and ee_3d with num_threads=1.

iaemu is timed by its own `elapsed_s` (`iaemu simulate --threads 1`), which covers preparing
the catalogue for populating, populating and the three statistics, but not reading the file;
halotools' times likewise leave out loading the catalogue. Both do R realisations; the first
one's time and the mean of the later ones are reported separately (halotools' first
populate_mock builds its tables).

For scale, Corrfunc 2.5.3's `DD` (xi alone, one thread, best of 3, float32 and float64 kernels)
is timed on the galaxies of halotools' last realisation: the pair counting that any one
realisation's xi needs.

Usage: .venv-peers/bin/python tests/peers/bench_simulate.py --iaemu target/lite/release/iaemu
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_halotools_hod_fixture as fx  # noqa: E402

POINT = [0.8, 0.8, 12.02, 0.26, 11.38, 13.31, 1.06]


def iaemu_times(iaemu, halos, realizations):
    """Seconds for 1 and for `realizations` realisations (one thread), and the galaxy count."""
    out = {}
    for r in (1, realizations):
        with tempfile.NamedTemporaryFile(suffix=".json") as f:
            subprocess.run([iaemu, "simulate", "--params", ",".join(map(str, POINT)), "--halos", halos,
                            "--realizations", str(r), "--threads", "1", "--seed", "3", "--out", f.name],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            j = json.load(open(f.name))
        out[r] = (j["elapsed_s"], float(np.mean(j["n_galaxies"])))
    return out


def halotools_times(halos, realizations, home):
    os.environ["HOME"] = home
    from halotools.sim_manager import CachedHaloCatalog
    # halotools compares the name with the absolute path the file records.
    halocat = CachedHaloCatalog(fname=os.path.abspath(halos))
    lbox = np.atleast_1d(halocat.Lbox).astype(float)
    model = fx.build_model(halocat, POINT[0], POINT[1])
    fx.set_params(model, POINT)
    times = []
    for k in range(realizations):
        t0 = time.perf_counter()
        model.populate_mock(halocat, seed=100 + k) if k == 0 else model.mock.populate(seed=100 + k)
        t1 = time.perf_counter()
        fx.measure(model.mock.galaxy_table, lbox)
        t2 = time.perf_counter()
        times.append((t1 - t0, t2 - t1, len(model.mock.galaxy_table)))
    g = model.mock.galaxy_table
    pos = np.column_stack([np.asarray(g[c], dtype=np.float64) for c in ("x", "y", "z")])
    return times, pos, float(lbox[0])


def corrfunc_times(pos, box):
    """Best of 3 seconds of Corrfunc's DD (xi alone, one thread), float32 and float64."""
    from Corrfunc.theory import DD

    edges = np.geomspace(0.1, 16.0, 21)
    out = {}
    for dtype in (np.float32, np.float64):
        x, y, z = (np.ascontiguousarray(pos[:, k], dtype=dtype) for k in range(3))
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            DD(autocorr=1, nthreads=1, binfile=edges, X1=x, Y1=y, Z1=z, periodic=True, boxsize=box)
            best = min(best, time.perf_counter() - t0)
        out[np.dtype(dtype).name] = best
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iaemu", default="target/lite/release/iaemu")
    ap.add_argument("--halos", help="halotools HDF5 (default: iaemu's default synthetic universe)")
    ap.add_argument("--realizations", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("IAEMU_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        halos = args.halos
        if halos is None:
            halos = os.path.join(tmp, "default.hdf5")
            subprocess.run([args.iaemu, "halos", "synth", "--out", halos], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ia = iaemu_times(args.iaemu, halos, args.realizations)
        ht, ht_pos, box = halotools_times(halos, args.realizations, tmp)
        cf = corrfunc_times(ht_pos, box)
    r = args.realizations
    ia_first = ia[1][0]
    ia_later = (ia[r][0] - ia[1][0]) / (r - 1)
    ht_first = sum(ht[0][:2])
    ht_later = float(np.mean([a + b for a, b, _ in ht[1:]]))
    print(f"model point {POINT}, {r} realisations, one thread each")
    print(f"iaemu:     {ia[1][1]:.0f} galaxies; first realisation {ia_first:.3f} s "
          f"(includes preparing the catalogue), each later one {ia_later:.3f} s")
    print(f"halotools: {ht[0][2]} galaxies; first realisation {ht_first:.2f} s "
          f"(populate_mock {ht[0][0]:.2f} s + tpcf/ed_3d/ee_3d {ht[0][1]:.2f} s), each later one {ht_later:.2f} s "
          f"(populate {np.mean([a for a, _, _ in ht[1:]]):.2f} s + statistics {np.mean([b for _, b, _ in ht[1:]]):.2f} s)")
    print(f"ratio halotools / iaemu: first realisation {ht_first / ia_first:.0f}x, later ones {ht_later / ia_later:.0f}x")
    print(f"Corrfunc DD, xi alone, on halotools' last {len(ht_pos)} galaxies: {cf['float32']:.3f} s (float32), "
          f"{cf['float64']:.3f} s (float64); a later realisation 100x faster than halotools would take "
          f"{ht_later / 100:.3f} s in all")


if __name__ == "__main__":
    main()

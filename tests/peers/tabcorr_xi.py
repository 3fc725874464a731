"""TabCorr 1.2.1, the peer of `iaemu tabulate` / `iaemu expect` for xi: tabulates a halo catalogue
(a halotools cache file that iaemu wrote) for a halotools Zheng07 model with NFW satellites and
predicts xi at model points; `iaemu` tabulates and evaluates the same halos (NFW satellites) in
the same run. Prints (and with --out writes) one JSON object: both codes' xi per point, their
tabulation and per-point times, the CPU, and the ratios.

The model each code describes:
- occupations: Zheng07Cens and Zheng07Sats (not modulated by the central occupation), the
  hosts of more than 300 particles (iaemu's default cut) by halo_mvir;
- satellites: NFWPhaseSpace with each halo's own concentration (conc_mass_model
  'direct_from_halo_catalog'), as iaemu's NFW satellites; real space (no redshift-space
  distortions); xi from halotools' tpcf in the periodic box;
- TabCorr tabulates 30 log-mass bins, one random NFW position per tracer (its default of 3
  tracers per 1e12 Msun/h), and weighs bin pairs with Gauss-Legendre-averaged occupations.

Usage: .venv-peers/bin/python tests/peers/tabcorr_xi.py --iaemu target/release/iaemu \
           --halos HALOS.hdf5 [--threads 2] [--out result.json] [--edges 0.1,...]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

# The model points (mu's are irrelevant to xi): -20 and -21 points of Zheng et al. (2007)
# Table 1, and a sparse, steep one.
POINTS = [
    [0.8, 0.8, 12.02, 0.26, 11.38, 13.31, 1.06],
    [0.0, 0.0, 12.79, 0.39, 11.92, 13.94, 1.15],
    [0.3, -0.2, 12.5, 0.4, 12.0, 13.6, 1.0],
]
DEFAULT_EDGES = np.logspace(-1, np.log10(16), 21)
MIN_PARTICLES = 300


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def run_iaemu(iaemu, halos, edges, threads, tmp):
    table = os.path.join(tmp, "table.npz")
    t0 = time.perf_counter()
    subprocess.run([iaemu, "tabulate", "--halos", halos, "--satellites", "nfw", "--threads", str(threads),
                    "--edges", ",".join(repr(float(e)) for e in edges), "--out", table],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t_tab = time.perf_counter() - t0
    out = os.path.join(tmp, "expect.json")
    args = [iaemu, "expect", "--table", table, "--threads", "1", "--out", out]
    for p in POINTS:
        args += ["--params", ",".join(map(str, p))]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    e = json.load(open(out))
    return t_tab, e["xi"], e.get("elapsed_s")


def run_tabcorr(halos, edges, threads, home):
    os.environ["HOME"] = home  # halotools writes its cache index under $HOME
    from halotools.empirical_models import HodModelFactory, NFWPhaseSpace, TrivialPhaseSpace, Zheng07Cens, Zheng07Sats
    from halotools.mock_observables import tpcf
    from halotools.sim_manager import CachedHaloCatalog
    from tabcorr import TabCorr

    # halotools compares the name with the absolute path the file records.
    halocat = CachedHaloCatalog(fname=os.path.abspath(halos))
    # TabCorr reads halocat.cosmology (for redshift-space distortions, off here); a cache file
    # does not carry one, so halotools' default stands in.
    from halotools.sim_manager.sim_defaults import default_cosmology
    halocat.cosmology = default_cosmology
    nfw = lambda: NFWPhaseSpace(redshift=halocat.redshift, conc_mass_model="direct_from_halo_catalog")
    t0 = time.perf_counter()
    table = TabCorr.tabulate(halocat, tpcf, np.asarray(edges), redshift_space_distortions=False,
                             Num_ptcl_requirement=MIN_PARTICLES, prim_haloprop_key="halo_mvir",
                             sats_prof_model=nfw(), num_threads=threads)
    t_tab = time.perf_counter() - t0
    model = HodModelFactory(centrals_occupation=Zheng07Cens(prim_haloprop_key="halo_mvir", redshift=halocat.redshift),
                            centrals_profile=TrivialPhaseSpace(redshift=halocat.redshift),
                            satellites_occupation=Zheng07Sats(prim_haloprop_key="halo_mvir", modulate_with_cenocc=False,
                                                              redshift=halocat.redshift),
                            satellites_profile=nfw())
    xi, t_points = [], []
    for p in POINTS:
        model.param_dict.update(logMmin=p[2], sigma_logM=p[3], logM0=p[4], logM1=p[5], alpha=p[6])
        t1 = time.perf_counter()
        _, x = table.predict(model)
        t_points.append(time.perf_counter() - t1)
        xi.append([float(v) for v in x])
    return t_tab, xi, float(np.median(t_points))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iaemu", default="target/release/iaemu")
    ap.add_argument("--halos", required=True, help="halotools HDF5 cache file (iaemu halos synth --out X.hdf5)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--edges", help="bin edges, Mpc/h, comma separated (default: iaemu's 20 bins)")
    ap.add_argument("--out")
    args = ap.parse_args()
    edges = np.array([float(x) for x in args.edges.split(",")]) if args.edges else DEFAULT_EDGES
    with tempfile.TemporaryDirectory() as tmp:
        ia_tab, ia_xi, ia_eval = run_iaemu(args.iaemu, args.halos, edges, args.threads, tmp)
        tc_tab, tc_xi, tc_point = run_tabcorr(args.halos, edges, args.threads, tmp)
    result = {
        "cpu": cpu_name(),
        "threads": args.threads,
        "points": POINTS,
        "r_edges": [float(e) for e in edges],
        "iaemu": {"tabulate_s": ia_tab, "xi": ia_xi, "expect_elapsed_s": ia_eval},
        "tabcorr": {"tabulate_s": tc_tab, "xi": tc_xi, "predict_s_per_point": tc_point},
        "tabulate_speedup": tc_tab / ia_tab,
    }
    text = json.dumps(result, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    print(text)
    frac = np.array(ia_xi) / np.array(tc_xi) - 1
    print(f"tabulation: iaemu {ia_tab:.1f} s, TabCorr {tc_tab:.1f} s ({tc_tab / ia_tab:.1f}x), {args.threads} threads, {cpu_name()}",
          file=sys.stderr)
    for i, row in enumerate(frac):
        print(f"point {i}: xi_iaemu / xi_TabCorr - 1 per bin: " + " ".join(f"{v:+.3f}" for v in row), file=sys.stderr)


if __name__ == "__main__":
    main()

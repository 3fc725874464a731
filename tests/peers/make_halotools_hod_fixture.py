#!/usr/bin/env python3
"""Make tests/fixtures/halotools_hod: realisation means and variances of xi, omega and eta that
halotools 0.9.4 measures on galaxies it puts into iaemu's synthetic halo catalogue (box 100 Mpc/h,
grid 32, seed 21), for several model points. tests/hod_peer.rs populates the same halos with
iaemu and compares.

Run from the repository root, in the peer environment (scripts/peer-venv.sh):

    .venv-peers/bin/python tests/peers/make_halotools_hod_fixture.py [--iaemu target/lite/release/iaemu]

The halotools model (docs/science.md sections 3 to 5):

    HodModelFactory(
        centrals_occupation   = Zheng07Cens(),
        centrals_profile      = TrivialPhaseSpace(),
        satellites_occupation = Zheng07Sats(modulate_with_cenocc=False),
        satellites_profile    = SubhaloPhaseSpace('satellites', np.logspace(10.5, 15.2, 15)),
        centrals_orientation  = CentralAlignment(central_alignment_strength=mu_cen),
        satellites_orientation= RadialSatelliteAlignment(satellite_alignment_strength=mu_sat, Lbox=L),
        model_feature_calling_sequence=(the six, in this order))

with the occupation parameters set in model.param_dict; realisation k of point i is
model.populate_mock(halocat, seed=s_k) (first call) / model.mock.populate(seed=s_k), with
np.random.seed(s_k) first, s_k = 100000 (i + 1) + 100 k (spaced because populate hands
s_k + 1, s_k + 2, ... to the components, so consecutive seeds would share random draws).

Reproducibility: halotools' alignment components ignore `seed`: CentralAlignment and
RadialSatelliteAlignment call axes_correlated_with_input_vector(vectors, p) without one, which
draws inside astropy's NumpyRNGContext(None), and that calls np.random.seed(None), i.e. reseeds
numpy's global generator from the operating system. So that the fixture can be remade bit for
bit, the script wraps that one function (pin_alignment_seeds) to pass seed = a number drawn
from numpy's global generator, itself seeded with s_k; the sampling algorithm is unchanged.
Each realisation is measured with

    xi    = tpcf(pos, rbins, period=L)                          (estimator 'Natural')
    omega = ed_3d(pos, ori, sample2=pos, rbins=rbins, period=L)
    eta   = ee_3d(pos, ori, sample2=pos, orientations2=ori, rbins=rbins, period=L)

on all galaxies (centrals and satellites together), ori = galaxy_axisA (major axis).
Before running, the script checks the conventions it relies on and stops if one differs.
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(REPO_ROOT, "tests", "fixtures", "halotools_hod")
DEFAULT_IAEMU = os.path.join("target", "lite", "release", "iaemu")

HALOS = {"box": 100.0, "grid": 32, "seed": 21}
R_EDGES = np.logspace(np.log10(0.1), np.log10(16.0), 21)
SUBHALO_MASS_BINS = np.logspace(10.5, 15.2, 15)
NUM_PTCL_REQUIREMENT = 300

# Zheng et al. (2007) Table 1: (logMmin, sigma_logM, logM0, logM1, alpha)
ZHENG07 = {
    "-20": (12.02, 0.26, 11.38, 13.31, 1.06),
    "-19": (11.60, 0.26, 11.49, 12.83, 1.02),
}
# (name, Zheng07 threshold, mu_cen, mu_sat)
POINTS = [
    ("m20_mu+0.8", "-20", 0.8, 0.8),
    ("m20_mu0", "-20", 0.0, 0.0),
    ("m19_mu-0.5", "-19", -0.5, -0.5),
    ("m19_mu+0.8", "-19", 0.8, 0.8),
]
# Realisation k of point i uses seed BASE_SEED * (i + 1) + SEED_STRIDE * k. halotools' populate(seed=s)
# hands s+1, s+2, ... to the successive components (centrals' Bernoulli draws get s+1, satellites'
# Poisson draws s+2, then the subhalo selection, ...), each drawing np.random.random(N) inside
# NumpyRNGContext(seed): with consecutive seeds, realisation k+1's centrals would reuse realisation
# k's satellite uniforms, and so on. A stride of 100 keeps every realisation's seeds apart.
BASE_SEED = 100_000
SEED_STRIDE = 100


def seed_of(point, k):
    return BASE_SEED * (point + 1) + SEED_STRIDE * k


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def make_halo_files(iaemu, tmp):
    """The same synthetic universe as HDF5 (for halotools) and as npz (to hash)."""
    files = {}
    for ext in ("hdf5", "npz"):
        out = os.path.join(tmp, f"halos.{ext}")
        cmd = [iaemu, "halos", "synth", "--box", f"{HALOS['box']:g}", "--grid", str(HALOS["grid"]),
               "--seed", str(HALOS["seed"]), "--out", out]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        files[ext] = out
    return files, cmd


def pin_alignment_seeds():
    """Makes halotools' alignment draws follow numpy's global generator (see the module doc)."""
    from halotools.empirical_models.ia_models import ia_model_components as iam
    original = iam.axes_correlated_with_input_vector
    if getattr(original, "_pinned", False):
        return

    def seeded(input_vectors, p=0.0, seed=None):
        if seed is None:
            seed = int(np.random.randint(0, 2 ** 31 - 1))
        return original(input_vectors, p=p, seed=seed)

    seeded._pinned = True
    iam.axes_correlated_with_input_vector = seeded


def build_model(halocat, mu_cen, mu_sat):
    from halotools.empirical_models import (HodModelFactory, Zheng07Cens, Zheng07Sats, TrivialPhaseSpace,
                                            SubhaloPhaseSpace, CentralAlignment, RadialSatelliteAlignment)
    lbox = np.atleast_1d(halocat.Lbox).astype(float)
    sats = Zheng07Sats(modulate_with_cenocc=False)
    assert sats.modulate_with_cenocc is False
    return HodModelFactory(
        centrals_occupation=Zheng07Cens(),
        centrals_profile=TrivialPhaseSpace(),
        satellites_occupation=sats,
        satellites_profile=SubhaloPhaseSpace("satellites", SUBHALO_MASS_BINS),
        centrals_orientation=CentralAlignment(central_alignment_strength=mu_cen),
        satellites_orientation=RadialSatelliteAlignment(satellite_alignment_strength=mu_sat, Lbox=lbox),
        model_feature_calling_sequence=("centrals_occupation", "centrals_profile", "satellites_occupation",
                                        "satellites_profile", "centrals_orientation", "satellites_orientation"),
    )


def set_params(model, params):
    mu_cen, mu_sat, log_m_min, sigma, log_m0, log_m1, alpha = params
    d = model.param_dict
    for key, value in (("central_alignment_strength", mu_cen), ("satellite_alignment_strength", mu_sat),
                       ("logMmin", log_m_min), ("sigma_logM", sigma), ("logM0", log_m0), ("logM1", log_m1),
                       ("alpha", alpha)):
        assert key in d, f"halotools model has no parameter {key}: {sorted(d)}"
        d[key] = value


def measure(gt, lbox):
    from halotools.mock_observables import tpcf, ed_3d, ee_3d
    pos = np.vstack([gt["x"], gt["y"], gt["z"]]).T.astype(np.float64)
    ori = np.vstack([gt["galaxy_axisA_x"], gt["galaxy_axisA_y"], gt["galaxy_axisA_z"]]).T.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # 0/0 in empty bins gives NaN
        xi = tpcf(pos, R_EDGES, period=lbox, estimator="Natural", num_threads=1)
        omega = ed_3d(pos, ori, sample2=pos, rbins=R_EDGES, period=lbox, num_threads=1)
        eta = ee_3d(pos, ori, sample2=pos, orientations2=ori, rbins=R_EDGES, period=lbox, num_threads=1)
    return pos, ori, np.asarray(xi, float), np.asarray(omega, float), np.asarray(eta, float)


def check_conventions(model, halocat, gt, pos, ori, xi, omega, eta, params, lbox):
    """Stops with a message if halotools does something else than docs/science.md describes."""
    from halotools.empirical_models.ia_models.ia_strength_models import alignment_strength
    from halotools.empirical_models.ia_models.ia_model_components import axes_correlated_with_input_vector
    from halotools.mock_observables import npairs_3d
    problems = []
    # Watson: kappa = -tan(pi mu / 2), density exp(-kappa t^2): mu > 0 aligned.
    for mu in (-0.5, 0.3, 0.8):
        if abs(alignment_strength(mu)[0] + math.tan(math.pi * mu / 2)) > 1e-12:
            problems.append(f"alignment_strength({mu}) != -tan(pi mu/2)")
    np.random.seed(5)
    ref = np.tile([0.48, 0.6, 0.64], (200_000, 1))
    for mu, want in ((0.8, "aligned"), (-0.5, "perpendicular")):
        a = axes_correlated_with_input_vector(ref, p=np.full(len(ref), mu))
        t2 = np.mean(np.einsum("ij,ij->i", a, ref) ** 2)
        if (want == "aligned") != (t2 > 1 / 3):
            problems.append(f"mu = {mu}: <t^2> = {t2:.3f}, expected {want}")
    # Central orientations: Watson around the host's normalised halo_axisA.
    cen = gt["gal_type"] == "centrals"
    sat = ~cen
    hax = np.vstack([gt["halo_axisA_x"][cen], gt["halo_axisA_y"][cen], gt["halo_axisA_z"][cen]]).T
    hax /= np.linalg.norm(hax, axis=1)[:, None]
    c2_cen = np.einsum("ij,ij->i", ori[cen] / np.linalg.norm(ori[cen], axis=1)[:, None], hax) ** 2
    t2_cen = float(np.mean(c2_cen))
    # Centrals at the host centre; satellites: radial reference from the host centre.
    d_cen = np.max(np.abs(pos[cen] - np.vstack([gt["halo_x"][cen], gt["halo_y"][cen], gt["halo_z"][cen]]).T))
    if d_cen > 1e-9:
        problems.append(f"centrals are not at their host centre (max offset {d_cen})")
    dr = pos[sat] - np.vstack([gt["halo_x"][sat], gt["halo_y"][sat], gt["halo_z"][sat]]).T
    dr -= lbox * np.round(dr / lbox)
    rr = np.linalg.norm(dr, axis=1)
    ok = rr > 0
    c2_sat = np.einsum("ij,ij->i", ori[sat][ok] / np.linalg.norm(ori[sat][ok], axis=1)[:, None],
                       dr[ok] / rr[ok, None]) ** 2
    t2_sat = float(np.mean(c2_sat))
    mu_cen, mu_sat = params[0], params[1]
    t2_expected = {}
    for name, mu, c2 in (("central", mu_cen, c2_cen), ("satellite", mu_sat, c2_sat)):
        # <t^2> under exp(-kappa t^2) on [-1, 1], kappa = -tan(pi mu / 2) (docs/science.md section 4)
        want = watson_mean_t2(mu)
        t2_expected[name] = want
        se = float(np.std(c2, ddof=1) / math.sqrt(len(c2)))
        if abs(float(np.mean(c2)) - want) > 5 * se:
            problems.append(f"{name} orientations: <t^2> = {np.mean(c2):.4f}, Watson(mu = {mu}) gives {want:.4f}")
    # Positions in [0, L).
    if not (pos.min() >= 0 and np.all(pos < lbox)):
        problems.append("positions outside [0, L)")
    # tpcf (periodic, no randoms) = DD V / (N^2 dV) - 1 with DD ordered pairs i != j.
    n = len(pos)
    dd = np.diff(npairs_3d(pos, pos, R_EDGES, period=lbox, num_threads=1)).astype(float)
    dv = 4.0 / 3.0 * np.pi * np.diff(R_EDGES ** 3)
    want_xi = dd * np.prod(lbox) / (n ** 2 * dv) - 1.0
    if np.max(np.abs(xi - want_xi) / np.maximum(1.0, np.abs(want_xi))) > 1e-12:
        problems.append("tpcf is not DD V/(N^2 dV) - 1")
    # Occupations: Zheng07 formulas, satellites not multiplied by <Ncen>.
    m = np.logspace(11, 15, 9)
    from scipy.special import erf
    ncen = 0.5 * (1 + erf((np.log10(m) - params[2]) / params[3]))
    nsat = np.where(m > 10 ** params[4], ((m - 10 ** params[4]) / 10 ** params[5]) ** params[6], 0.0)
    got_cen = model.mean_occupation_centrals(prim_haloprop=m)
    got_sat = model.mean_occupation_satellites(prim_haloprop=m)
    if np.max(np.abs(got_cen - ncen)) > 1e-12 or np.max(np.abs(got_sat - nsat) / np.maximum(nsat, 1e-300)) > 1e-12:
        problems.append("Zheng07 mean occupations differ from docs/science.md section 3 (or are modulated by <Ncen>)")
    return problems, {"t2_centrals_vs_halo_axisA": t2_cen, "t2_satellites_vs_radial": t2_sat,
                      "t2_watson_expected": t2_expected,
                      "satellites_at_zero_radius": int((~ok).sum())}


def watson_mean_t2(mu):
    from scipy.integrate import quad
    kappa = -math.tan(math.pi * mu / 2)
    f = lambda t: math.exp(-kappa * t * t)
    return quad(lambda t: t * t * f(t), -1, 1)[0] / quad(f, -1, 1)[0]


def orphan_fraction(model):
    gt = model.mock.galaxy_table
    sat = gt["gal_type"] == "satellites"
    return float(np.mean(~gt["real_subhalo"][sat])) if sat.any() else 0.0


def json_list(a):
    return [None if not math.isfinite(float(x)) else float(x) for x in a]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iaemu", default=DEFAULT_IAEMU, help="the iaemu binary (default: %(default)s)")
    ap.add_argument("--realizations", type=int, default=50, help="realisations per point (default %(default)s)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory (default: %(default)s)")
    args = ap.parse_args()
    t_start = time.perf_counter()

    tmp = tempfile.mkdtemp(prefix="iaemu-hod-fixture-")
    try:
        # halotools writes a cache log under $HOME (and astropy its config): keep them private.
        for k, sub in (("HOME", ""), ("XDG_CACHE_HOME", "cache"), ("XDG_CONFIG_HOME", "config")):
            os.environ[k] = os.path.join(tmp, sub)
            os.makedirs(os.environ[k], exist_ok=True)
        iaemu = args.iaemu if os.path.isabs(args.iaemu) else os.path.join(REPO_ROOT, args.iaemu)
        files, cmd = make_halo_files(iaemu, tmp)
        npz_sha = sha256(files["npz"])

        import halotools
        import scipy
        from halotools.sim_manager import CachedHaloCatalog
        warnings.filterwarnings("ignore", message=".*alignment_strength.*not detected.*")
        warnings.filterwarnings("ignore", message=".*radial distance equal to zero.*")
        print(f"halotools {halotools.__version__}, numpy {np.__version__}, scipy {scipy.__version__}")

        pin_alignment_seeds()
        halocat = CachedHaloCatalog(fname=files["hdf5"])
        ht = halocat.halo_table
        lbox = np.atleast_1d(halocat.Lbox).astype(float)
        host = ht["halo_upid"] == -1
        n_hosts_cut = int(np.sum(host & (ht["halo_mvir"] > NUM_PTCL_REQUIREMENT * halocat.particle_mass)))
        cols = ("halo_mvir", "halo_mpeak", "halo_x", "halo_y", "halo_z", "halo_axisA_x", "halo_axisA_y",
                "halo_axisA_z", "halo_rvir")
        halo_summary = {
            "settings": dict(HALOS),
            "command": "iaemu halos synth --box 100 --grid 32 --seed 21 --out FILE.hdf5",
            "npz_sha256": npz_sha,
            "rows": int(len(ht)),
            "hosts": int(host.sum()),
            "subhalos": int((~host).sum()),
            "hosts_above_300_particles": n_hosts_cut,
            "Lbox": lbox.tolist(),
            "particle_mass": float(halocat.particle_mass),
            "column_sums": {c: float(np.sum(np.asarray(ht[c], dtype=np.float64))) for c in cols},
            "zero_major_axes": int(np.sum((ht["halo_axisA_x"] == 0) & (ht["halo_axisA_y"] == 0)
                                          & (ht["halo_axisA_z"] == 0))),
        }
        print(f"halos: {halo_summary['rows']} rows ({halo_summary['hosts']} hosts, {halo_summary['subhalos']} "
              f"subhalos), npz sha256 {npz_sha}")

        results = []
        timings = {}
        for name, thr, mu_cen, mu_sat in POINTS:
            t0 = time.perf_counter()
            params = (mu_cen, mu_sat) + ZHENG07[thr]
            model = build_model(halocat, mu_cen, mu_sat)
            set_params(model, params)
            runs = {"xi": [], "omega": [], "eta": [], "n_cen": [], "n_sat": [], "orphans": []}
            checks = None
            for k in range(args.realizations):
                s = seed_of(len(results), k)
                np.random.seed(s)
                if k == 0:
                    model.populate_mock(halocat, seed=s, Num_ptcl_requirement=NUM_PTCL_REQUIREMENT)
                else:
                    model.mock.populate(seed=s)
                gt = model.mock.galaxy_table
                pos, ori, xi, omega, eta = measure(gt, lbox)
                if k == 0:
                    problems, checks = check_conventions(model, halocat, gt, pos, ori, xi, omega, eta, params, lbox)
                    if problems:
                        print("CONVENTION MISMATCH:\n  " + "\n  ".join(problems), file=sys.stderr)
                        sys.exit(2)
                runs["xi"].append(xi)
                runs["omega"].append(omega)
                runs["eta"].append(eta)
                runs["n_cen"].append(int(np.sum(gt["gal_type"] == "centrals")))
                runs["n_sat"].append(int(np.sum(gt["gal_type"] == "satellites")))
                runs["orphans"].append(orphan_fraction(model))
            r = args.realizations
            point = {
                "name": name,
                "zheng07_threshold": float(thr),
                "params": [float(x) for x in params],
                "seeds": [seed_of(len(results), k) for k in range(r)],
                "realizations": r,
            }
            for stat in ("xi", "omega", "eta"):
                a = np.array(runs[stat])
                point[stat] = json_list(a.mean(axis=0))
                point[stat + "_var"] = json_list(a.var(axis=0, ddof=1))
                point[stat + "_finite_realizations"] = [int(x) for x in np.isfinite(a).sum(axis=0)]
            for c in ("n_cen", "n_sat"):
                a = np.array(runs[c], dtype=float)
                point[c + "_mean"] = float(a.mean())
                point[c + "_var"] = float(a.var(ddof=1))
            point["orphan_fraction_mean"] = float(np.mean(runs["orphans"]))
            point["checks"] = checks
            results.append(point)
            timings[name] = time.perf_counter() - t0
            print(f"{name}: params {list(params)}, R={r}, <Ncen> {point['n_cen_mean']:.1f}, "
                  f"<Nsat> {point['n_sat_mean']:.1f} (orphans {point['orphan_fraction_mean']:.3f}), "
                  f"checks {json.dumps(checks)}, {timings[name]:.1f} s")
            print(f"  {'r_lo':>7} {'r_hi':>7} {'xi':>11} {'sd':>9} {'omega':>9} {'sd':>8} {'eta':>9} {'sd':>8}")
            for b in range(len(R_EDGES) - 1):
                print(f"  {R_EDGES[b]:7.3f} {R_EDGES[b + 1]:7.3f} "
                      f"{np.mean(np.array(runs['xi'])[:, b]):11.3f} {np.std(np.array(runs['xi'])[:, b], ddof=1):9.3f} "
                      f"{np.mean(np.array(runs['omega'])[:, b]):9.5f} {np.std(np.array(runs['omega'])[:, b], ddof=1):8.5f} "
                      f"{np.mean(np.array(runs['eta'])[:, b]):9.5f} {np.std(np.array(runs['eta'])[:, b], ddof=1):8.5f}")

        expected = {
            "peer": f"halotools {halotools.__version__}",
            "numpy_version": np.__version__,
            "scipy_version": scipy.__version__,
            "halos": halo_summary,
            "r_edges": [float(x) for x in R_EDGES],
            "subhalo_mass_bins": [float(x) for x in SUBHALO_MASS_BINS],
            "num_ptcl_requirement": NUM_PTCL_REQUIREMENT,
            "points": results,
        }
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "expected.json"), "w") as fh:
            json.dump(expected, fh, indent=1, allow_nan=False)
            fh.write("\n")
        print(f"wrote {os.path.join(args.out, 'expected.json')} in {time.perf_counter() - t_start:.1f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

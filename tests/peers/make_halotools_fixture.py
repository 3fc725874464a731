#!/usr/bin/env python3
"""Make tests/fixtures/halotools_corr: a clustered, aligned galaxy catalogue and what
halotools 0.9.4 measures on it (xi, omega, eta and ordered pair counts).

Run from the repository root, in the peer environment (scripts/peer-venv.sh):

    .venv-peers/bin/python tests/peers/make_halotools_fixture.py

The catalogue is generated from a fixed numpy seed, stored as float32 (N x 6: x, y, z,
ex, ey, ez), and halotools is run on exactly those float32 values cast back to float64,
so anything reading catalog.npy sees the inputs halotools saw.

Before writing, the script checks halotools' conventions against a brute-force
numpy computation on a subsample (ordered pairs, self pairs, bin edges, normalisation)
and stops if they differ from the definitions in docs/science.md section 5.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np

from halotools_calls import three_statistics

SEED = 20240611
BOX = 100.0
N_GALAXIES = 60_000
N_CLUSTERS = 1_500
FIELD_FRACTION = 0.20
AXIS_RATIO = 2.0            # satellites' spatial elongation along the cluster axis
SAT_RADIAL, SAT_AXIS, SAT_NOISE = 1.0, 0.3, 0.35   # satellite orientation mixture weights
SCALE_MIN, SCALE_MAX = 0.4, 1.2                     # cluster r_vir range, Mpc/h
NFW_C = 5.0                 # NFW concentration of the satellite profile
RICHNESS_SIGMA = 0.5        # lognormal scatter of the cluster richness weights
R_EDGES = np.logspace(np.log10(0.1), np.log10(16.0), 21)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(REPO_ROOT, "tests", "fixtures", "halotools_corr")


def unit(v):
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def random_unit_vectors(rng, n):
    # isotropic: normalised Gaussian 3-vectors
    while True:
        v = rng.standard_normal((n, 3))
        norm = np.linalg.norm(v, axis=1)
        if np.all(norm > 1e-6):
            return v / norm[:, None]


def nfw_radii(rng, n, c):
    """Radii (in units of r_vir) drawn from an NFW profile of concentration c truncated at r_vir."""
    x = np.linspace(0.0, c, 20001)
    m = np.log1p(x) - x / (1.0 + x)
    return np.interp(rng.uniform(0.0, m[-1], n), m, x) / c


def make_catalogue(seed=SEED):
    """Clustered, aligned mock: returns (positions float64 (N,3) in [0, BOX), orientations
    float64 unit (N,3), kind int8 (0 field, 1 central, 2 satellite))."""
    rng = np.random.default_rng(seed)
    n_field = int(round(FIELD_FRACTION * N_GALAXIES))
    n_clustered = N_GALAXIES - n_field
    n_sat = n_clustered - N_CLUSTERS

    centres = rng.uniform(0.0, BOX, size=(N_CLUSTERS, 3))
    # per-cluster size (Gaussian scale, Mpc/h) and richness (lognormal weights)
    scale = rng.uniform(SCALE_MIN, SCALE_MAX, size=N_CLUSTERS)
    richness_w = rng.lognormal(mean=0.0, sigma=RICHNESS_SIGMA, size=N_CLUSTERS)
    host = rng.choice(N_CLUSTERS, size=n_sat, p=richness_w / richness_w.sum())
    host.sort()
    # each cluster's common axis (its central's major axis)
    axis = random_unit_vectors(rng, N_CLUSTERS)

    # centrals: at the centre, oriented along the cluster axis with a small scatter
    cen_pos = centres
    cen_ori = unit(axis + 0.15 * rng.standard_normal((N_CLUSTERS, 3)))

    # satellites: NFW profile (radius r_vir = scale) around the centre, elongated along the cluster axis
    # (axis ratios 1 : 1/AXIS_RATIO : 1/AXIS_RATIO), like a prolate halo
    g = random_unit_vectors(rng, n_sat) * nfw_radii(rng, n_sat, NFW_C)[:, None] * scale[host, None]
    a = axis[host]
    along = np.einsum("ij,ij->i", g, a)[:, None] * a
    offset = (AXIS_RATIO * along + (g - along)) / AXIS_RATIO ** (1.0 / 3.0)
    sat_pos = centres[host] + offset
    # orientation: radial (towards the centre) with scatter, partly along the cluster axis;
    # one satellite in five is isotropic
    radial = unit(offset)
    sat_ori = (SAT_RADIAL * radial + SAT_AXIS * axis[host]
               + SAT_NOISE * rng.standard_normal((n_sat, 3)))
    isotropic = rng.random(n_sat) < 0.20
    sat_ori[isotropic] = random_unit_vectors(rng, int(isotropic.sum()))
    sat_ori = unit(sat_ori)

    # field: uniform positions, isotropic orientations
    fld_pos = rng.uniform(0.0, BOX, size=(n_field, 3))
    fld_ori = random_unit_vectors(rng, n_field)

    pos = np.concatenate([cen_pos, sat_pos, fld_pos])
    ori = np.concatenate([cen_ori, sat_ori, fld_ori])
    kind = np.concatenate([np.full(N_CLUSTERS, 1), np.full(n_sat, 2), np.full(n_field, 0)]).astype(np.int8)
    # shuffle so nothing downstream can rely on the order
    perm = rng.permutation(N_GALAXIES)
    pos, ori, kind = pos[perm], ori[perm], kind[perm]
    pos = np.mod(pos, BOX)
    return pos, ori, kind


def to_float32_catalogue(pos, ori):
    cat = np.empty((len(pos), 6), dtype=np.float32)
    p32 = pos.astype(np.float32)
    # float32 rounding can turn x just below BOX into BOX itself: keep [0, BOX)
    p32[p32 >= np.float32(BOX)] = np.float32(0.0)
    p32[p32 < 0] = np.float32(0.0)
    cat[:, 0:3] = p32
    cat[:, 3:6] = unit(ori).astype(np.float32)
    return cat


def brute_force(pos, ori, edges, box):
    """Ordered pairs i != j, bins (r_k, r_k+1], minimum image: counts, sum (e_i.rhat_ij)^2,
    sum (e_i.e_j)^2 per bin."""
    n = len(pos)
    e = unit(ori)
    nb = len(edges) - 1
    counts = np.zeros(nb, dtype=np.int64)
    s_ed = np.zeros(nb)
    s_ee = np.zeros(nb)
    edges_sq = edges ** 2
    n_below = 0
    for i0 in range(0, n, 256):
        i1 = min(n, i0 + 256)
        d = pos[None, :, :] - pos[i0:i1, None, :]            # from i to j
        d -= box * np.round(d / box)
        dsq = np.einsum("abk,abk->ab", d, d)
        idx = np.arange(i0, i1)
        dsq[idx - i0, idx] = -1.0                               # exclude i == j
        k = np.searchsorted(edges_sq, dsq, side="left") - 1     # r_k < r <= r_k+1
        n_below += int(np.count_nonzero((dsq >= 0) & (dsq <= edges_sq[0])))
        ok = (dsq > edges_sq[0]) & (dsq <= edges_sq[-1])
        a, b = np.nonzero(ok)
        kk = k[a, b]
        r = np.sqrt(dsq[a, b])
        cos_ed = np.einsum("pk,pk->p", e[a + i0], d[a, b]) / r
        cos_ee = np.einsum("pk,pk->p", e[a + i0], e[b])
        counts += np.bincount(kk, minlength=nb)
        s_ed += np.bincount(kk, weights=cos_ed ** 2, minlength=nb)
        s_ee += np.bincount(kk, weights=cos_ee ** 2, minlength=nb)
    return counts, s_ed, s_ee, n_below


def halotools_measure(pos, ori, edges, box, threads):
    from halotools.mock_observables import npairs_3d

    t, xi, omega, eta = three_statistics(pos, ori, edges, box, threads)
    t0 = time.perf_counter()
    cum = npairs_3d(pos, pos, edges, period=box, num_threads=threads)
    t["npairs_3d"] = time.perf_counter() - t0
    return xi, omega, eta, np.asarray(cum, dtype=np.int64), t


def check_conventions(pos, ori, box, threads, n_sub=4000, seed=7):
    """Compare halotools with brute force on a subsample; returns a dict of findings."""
    rng = np.random.default_rng(seed)
    sel = rng.choice(len(pos), size=n_sub, replace=False)
    p, o = pos[sel], ori[sel]
    xi, omega, eta, cum, _ = halotools_measure(p, o, R_EDGES, box, threads)
    bf_counts, bf_ed, bf_ee, ordered_below = brute_force(p, o, R_EDGES, box)

    # npairs_3d cumulative: number of (i, j) with |x_i - x_j| <= edge, all ordered pairs,
    # i == j included (distance 0 <= every edge)?
    below_first = int(cum[0])
    # ordered_below: brute count of ordered i != j pairs with r <= edge[0]
    findings = {
        "n_sub": n_sub,
        "cum0_minus_ordered_below_edge0": below_first - ordered_below,
        "pairs_equal": bool(np.array_equal(np.diff(cum), bf_counts)),
        "pairs_in_bins": int(bf_counts.sum()),
    }
    with np.errstate(divide="ignore", invalid="ignore"):
        v = box ** 3
        dv = 4.0 / 3.0 * np.pi * np.diff(R_EDGES ** 3)
        xi_n2 = bf_counts * v / (n_sub ** 2 * dv) - 1.0
        xi_nn1 = bf_counts * v / (n_sub * (n_sub - 1) * dv) - 1.0
        om = bf_ed / bf_counts - 1.0 / 3.0
        et = bf_ee / bf_counts - 1.0 / 3.0
    good = bf_counts > 0
    findings["max_abs_xi_vs_N2"] = float(np.max(np.abs(xi - xi_n2)[good] / np.maximum(1, np.abs(xi_n2[good]))))
    findings["max_abs_xi_vs_NNm1"] = float(np.max(np.abs(xi - xi_nn1)[good] / np.maximum(1, np.abs(xi_nn1[good]))))
    findings["max_abs_omega"] = float(np.max(np.abs(omega - om)[good]))
    findings["max_abs_eta"] = float(np.max(np.abs(eta - et)[good]))
    return findings


def json_list(a):
    return [None if (isinstance(x, float) and not math.isfinite(x)) else x for x in a]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=1, help="halotools num_threads (default 1)")
    ap.add_argument("--skip-check", action="store_true", help="skip the brute-force convention check")
    args = ap.parse_args()

    import halotools
    import scipy

    print(f"halotools {halotools.__version__}, numpy {np.__version__}, scipy {scipy.__version__}")
    pos, ori, kind = make_catalogue(SEED)
    cat = to_float32_catalogue(pos, ori)
    # what halotools (and any reader of catalog.npy) sees:
    pos64 = cat[:, 0:3].astype(np.float64)
    ori64 = cat[:, 3:6].astype(np.float64)
    assert pos64.min() >= 0.0 and pos64.max() < BOX
    print(f"catalogue: {len(cat)} galaxies ({int((kind == 1).sum())} centrals, {int((kind == 2).sum())} "
          f"satellites, {int((kind == 0).sum())} field), box {BOX} Mpc/h, seed {SEED}")

    if not args.skip_check:
        t0 = time.perf_counter()
        f = check_conventions(pos64, ori64, BOX, args.threads)
        print(f"convention check vs brute force on {f['n_sub']} galaxies ({f['pairs_in_bins']} ordered pairs "
              f"in bins, {time.perf_counter() - t0:.1f} s): {json.dumps(f)}")
        problems = []
        if not f["pairs_equal"]:
            problems.append("npairs_3d differences != brute-force ordered i != j counts in (r_k, r_k+1]")
        if f["cum0_minus_ordered_below_edge0"] != f["n_sub"]:
            problems.append("npairs_3d cumulative count does not include exactly N self pairs")
        if f["max_abs_xi_vs_N2"] > 1e-12:
            problems.append("tpcf Natural (periodic, no randoms) is not DD V/(N^2 dV) - 1")
        if f["max_abs_omega"] > 1e-12 or f["max_abs_eta"] > 1e-12:
            problems.append("ed_3d/ee_3d differ from <(e.rhat)^2>-1/3 / <(e.e)^2>-1/3 over ordered pairs")
        if problems:
            print("CONVENTION MISMATCH:\n  " + "\n  ".join(problems), file=sys.stderr)
            sys.exit(2)
        print("conventions verified: ordered pairs i != j, bins (r_k, r_k+1], xi = DD V/(N^2 dV) - 1, "
              "omega/eta returned with the -1/3 applied")

    xi, omega, eta, cum, t = halotools_measure(pos64, ori64, R_EDGES, BOX, args.threads)
    pairs = np.diff(cum)

    edge_margin = None
    if not args.skip_check:
        # independent count (scipy cKDTree, periodic) and distance of the pairs to the bin edges:
        # if no pair lies within a relative 1e-9 of an edge, rounding differences in |d| between
        # codes cannot move a pair across an edge
        from scipy.spatial import cKDTree
        tree = cKDTree(pos64, boxsize=BOX)
        kd = np.diff(tree.count_neighbors(tree, R_EDGES))
        if not np.array_equal(kd, pairs):
            print("scipy cKDTree pair counts differ from halotools npairs_3d", file=sys.stderr)
            sys.exit(2)
        edge_margin = {}
        for eps in (1e-6, 1e-9):
            near = tree.count_neighbors(tree, R_EDGES * (1 + eps)) - tree.count_neighbors(tree, R_EDGES * (1 - eps))
            edge_margin[f"{eps:g}"] = int(near.sum())
        print(f"pair counts agree with scipy cKDTree; ordered pairs within a relative eps of a bin edge: {edge_margin}")
    total = float(sum(t.values()))
    three = t["tpcf"] + t["ed_3d"] + t["ee_3d"]
    n_in_bins = int(pairs.sum())
    print(f"halotools timings (num_threads={args.threads}): " + ", ".join(f"{k} {v:.2f} s" for k, v in t.items())
          + f"; tpcf+ed_3d+ee_3d {three:.2f} s = {three / n_in_bins * 1e9:.1f} ns per ordered pair "
          f"({n_in_bins} ordered pairs in (0.1, 16])")

    # self-consistency: xi from the pair counts with the N^2 normalisation
    dv = 4.0 / 3.0 * np.pi * np.diff(R_EDGES ** 3)
    xi_from_pairs = pairs * BOX ** 3 / (len(cat) ** 2 * dv) - 1.0
    xi_rel = float(np.max(np.abs(xi - xi_from_pairs) / np.maximum(1.0, np.abs(xi))))
    print(f"max relative |xi_tpcf - (DD V/(N^2 dV) - 1)| = {xi_rel:.2e}")

    print(f"{'r_lo':>8} {'r_hi':>8} {'pairs':>11} {'xi':>12} {'omega':>10} {'eta':>10}")
    for k in range(len(pairs)):
        print(f"{R_EDGES[k]:8.4f} {R_EDGES[k + 1]:8.4f} {pairs[k]:11d} {xi[k]:12.4f} {omega[k]:10.5f} {eta[k]:10.5f}")
    if not (xi[2] > 10 and abs(omega[2]) > 0.02):
        print("fixture lacks a clear clustering/alignment signal", file=sys.stderr)
        sys.exit(3)

    notes = (
        "Computed by halotools 0.9.4 (halotools.mock_observables) on catalog.npy's float32 values cast "
        "to float64, num_threads=%d. xi = tpcf(sample1, rbins, period=L, estimator='Natural'): with a "
        "periodic box and no randoms halotools uses analytic randoms with NR = N, RR = N^2 dV/V, so "
        "xi = DD*V/(N^2*dV) - 1 (the N^2 form, not Corrfunc's N(N-1)); dV from the n-ball volume "
        "pi^1.5/Gamma(2.5) r^3 = 4/3 pi r^3. omega = ed_3d(sample1, orientations1, sample2=sample1, "
        "rbins, period=L) and eta = ee_3d(sample1, orientations1, sample2=sample1, "
        "orientations2=orientations1, rbins, period=L): both return the mean over pairs minus 1/3 "
        "already (sum (e_i.rhat_ij)^2 / npairs - 1/3, sum (e_i.e_j)^2 / npairs - 1/3); orientations are "
        "normalised inside halotools (float64) before use, so the stored float32 orientations, which "
        "are unit only to float32 precision, must be renormalised by the reader. pairs = "
        "np.diff(npairs_3d(sample1, sample1, rbins, period=L)): npairs_3d is cumulative, counting "
        "every ordered (i, j) with |x_i - x_j| <= edge, both orders and the N self pairs i == j "
        "(distance 0 <= every edge), so after differencing the self pairs cancel and pairs[k] is the "
        "number of ordered pairs i != j with r_k < r <= r_k+1 (test: |d|^2 <= edge^2 in float64, "
        "minimum image). tpcf's DD and ed_3d/ee_3d's denominators are these same counts. Verified "
        "against a brute-force numpy computation on a 4000-galaxy subsample. Catalogue (numpy "
        "default_rng(seed)): %d uniformly placed clusters, each a central at the centre oriented along "
        "a random per-cluster axis with scatter, and satellites (lognormal richness weights) on an NFW "
        "profile (c = %g, r_vir ~ U(%g, %g) Mpc/h) stretched %g:1:1 along the cluster axis, oriented "
        "%g*radial + %g*axis + %g*Gaussian noise (20%% isotropic); %d%% uniform isotropic field "
        "galaxies; positions wrapped into [0, L)."
        % (args.threads, N_CLUSTERS, NFW_C, SCALE_MIN, SCALE_MAX, AXIS_RATIO,
           SAT_RADIAL, SAT_AXIS, SAT_NOISE, int(FIELD_FRACTION * 100))
    )
    expected = {
        "peer": f"halotools {halotools.__version__}",
        "box_size": BOX,
        "n_galaxies": int(len(cat)),
        "r_edges": [float(x) for x in R_EDGES],
        "xi": json_list([float(x) for x in xi]),
        "omega": json_list([float(x) for x in omega]),
        "eta": json_list([float(x) for x in eta]),
        "pairs": [int(x) for x in pairs],
        "seed": SEED,
        "numpy_version": np.__version__,
        "ordered_pairs_within_rel_eps_of_an_edge": edge_margin,
        "notes": notes,
    }
    os.makedirs(args.out, exist_ok=True)
    np.save(os.path.join(args.out, "catalog.npy"), cat)
    with open(os.path.join(args.out, "expected.json"), "w") as fh:
        json.dump(expected, fh, indent=1, allow_nan=False)
        fh.write("\n")
    size = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"wrote {args.out}/catalog.npy and expected.json ({size / 1e6:.2f} MB in the directory)")


if __name__ == "__main__":
    main()

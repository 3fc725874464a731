#!/usr/bin/env python3
"""Benchmark iaemu's `correlate` (xi + omega + eta) against the peer codes.

Run from the repository root, in the peer environment (scripts/peer-venv.sh):

    cargo build --release                      # target/release/iaemu
    .venv-peers/bin/python tests/peers/bench.py [--sizes 100000,300000,full] [--threads 1,2] [--repeat 1]

Data: Corrfunc's gals_Mr19 mock (1,235,904 galaxies, float32 x, y, z in a 420 Mpc/h box),
default ../shared/data/galaxies/gals_Mr19_xyz.npy; every galaxy gets a random unit
orientation (numpy default_rng(42)). Subsamples are random (seeded) subsets.

For each sample size and thread count:
  (a) Corrfunc 2.5.3 theory.DD(autocorr=1, periodic, boxsize=420): xi alone;
  (b) halotools 0.9.4 tpcf + ed_3d + ee_3d (num_threads): skipped where the estimate
      from a smaller sample exceeds --halotools-max-s;
  (c) iaemu correlate --catalog F --box 420 --threads k --out OUT.json (subprocess wall
      time; plus the engine's own `elapsed_s`).
Times are per ordered pair in (0.1, 16] (Corrfunc's npairs summed over bins: Corrfunc
counts ordered pairs for autocorrelations). Targets: iaemu (xi+omega+eta) no slower than
Corrfunc (xi alone) on 1 thread; iaemu at least 20x faster than halotools' three calls.
Cross-checks: iaemu's `pairs` against Corrfunc's npairs, iaemu's xi against
npairs V / (N^2 dV) - 1 from Corrfunc's counts.
Writes bench-out/bench.json (bench-out/ is git-ignored) and the sample catalogues there.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

from halotools_calls import three_statistics

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_DATA = os.path.join(REPO_ROOT, "..", "shared", "data", "galaxies", "gals_Mr19_xyz.npy")
DEFAULT_IAEMU = os.path.join(REPO_ROOT, "target", "release", "iaemu")
OUT_DIR = os.path.join(REPO_ROOT, "bench-out")
BOX = 420.0
R_EDGES = np.logspace(np.log10(0.1), np.log10(16.0), 21)
ORIENTATION_SEED = 42
SUBSAMPLE_SEED = 2024


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA, help="N x 3 float32 .npy positions (default: %(default)s)")
    ap.add_argument("--box", type=float, default=BOX, help="box side, Mpc/h (default %(default)s)")
    ap.add_argument("--sizes", default="100000,300000,full",
                    help="comma-separated sample sizes; 'full' = the whole file (default %(default)s)")
    ap.add_argument("--threads", default=None,
                    help="comma-separated thread counts (default: 1,os.cpu_count())")
    ap.add_argument("--repeat", type=int, default=1, help="runs per measurement; the minimum is kept (default 1)")
    ap.add_argument("--iaemu", default=DEFAULT_IAEMU, help="iaemu binary (default: %(default)s)")
    ap.add_argument("--halotools-max-s", type=float, default=180.0,
                    help="skip halotools where its estimated time exceeds this (default %(default)s s)")
    ap.add_argument("--no-halotools", action="store_true", help="do not run halotools")
    ap.add_argument("--no-iaemu", action="store_true", help="do not run iaemu")
    ap.add_argument("--out-dir", default=OUT_DIR, help="where samples and bench.json go (default: %(default)s)")
    return ap.parse_args()


def die(msg):
    print(f"bench: ERROR: {msg}", file=sys.stderr)
    sys.exit(1)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def best_of(repeat, fn):
    """Run fn() `repeat` times; return (min wall seconds, result of the last run)."""
    best, out = float("inf"), None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run_corrfunc(pos, threads, box):
    from Corrfunc.theory import DD

    x, y, z = (np.ascontiguousarray(pos[:, k]) for k in range(3))
    res = DD(autocorr=1, nthreads=threads, binfile=R_EDGES, X1=x, Y1=y, Z1=z, periodic=True, boxsize=box)
    return np.asarray(res["npairs"], dtype=np.int64)


def run_halotools(pos, ori, threads, box):
    t, xi, omega, eta = three_statistics(pos, ori, R_EDGES, box, threads)
    return t, (xi, omega, eta)


def run_iaemu(binary, catalog, threads, box, out_json):
    if os.path.exists(out_json):
        os.remove(out_json)
    cmd = [binary, "correlate", "--catalog", catalog, "--box", repr(box), "--threads", str(threads),
           "--edges", ",".join(repr(float(e)) for e in R_EDGES), "--out", out_json]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"exit {p.returncode}: {' '.join(cmd)}\n{p.stderr.strip()[-2000:]}")
    with open(out_json) as fh:
        return wall, json.load(fh)


def fmt_s(x):
    return "-" if x is None else f"{x:.3f}"


def fmt_ns(t, pairs):
    return "-" if t is None or not pairs else f"{t / pairs * 1e9:.2f}"


def main():
    args = parse_args()
    data = os.path.abspath(args.data)
    if not os.path.exists(data):
        die(f"data file not found: {data}\n  (Corrfunc's gals_Mr19 positions, N x 3 float32; pass --data PATH)")
    cores = os.cpu_count() or 1
    threads_list = ([int(t) for t in args.threads.split(",")] if args.threads else sorted({1, cores}))
    if any(t < 1 for t in threads_list):
        die("--threads must be positive integers")

    try:
        import Corrfunc
        import Corrfunc.theory  # noqa: F401  (import outside the timed region)
    except ImportError as e:
        die(f"cannot import Corrfunc ({e}); run scripts/peer-venv.sh and use .venv-peers/bin/python")
    halotools = None
    if not args.no_halotools:
        try:
            import halotools
            import halotools.mock_observables  # noqa: F401  (slow import: keep it out of the timings)
        except ImportError as e:
            die(f"cannot import halotools ({e}); run scripts/peer-venv.sh and use .venv-peers/bin/python")

    full = np.load(data)
    if full.ndim != 2 or full.shape[1] < 3:
        die(f"{data}: expected an N x 3 array, got shape {full.shape}")
    full = np.ascontiguousarray(full[:, :3])
    n_full = len(full)
    rng = np.random.default_rng(ORIENTATION_SEED)
    ori_full = rng.standard_normal((n_full, 3))
    ori_full /= np.linalg.norm(ori_full, axis=1, keepdims=True)

    sizes = []
    for s in args.sizes.split(","):
        s = s.strip().lower()
        n = n_full if s == "full" else int(s)
        if not 0 < n <= n_full:
            die(f"sample size {s} outside 1..{n_full}")
        sizes.append(n)

    iaemu_bin = os.path.abspath(args.iaemu)
    have_iaemu = not args.no_iaemu and os.path.isfile(iaemu_bin) and os.access(iaemu_bin, os.X_OK)
    iaemu_missing_msg = None
    if not args.no_iaemu and not have_iaemu:
        iaemu_missing_msg = (f"iaemu binary not found at {iaemu_bin}; build it with `cargo build --release` "
                             f"(or pass --iaemu PATH)")
        print(iaemu_missing_msg)
    os.makedirs(args.out_dir, exist_ok=True)

    print(f"data {data}: {n_full} galaxies, box {args.box} Mpc/h; {cores} cores ({cpu_model()}); "
          f"threads {threads_list}; repeat {args.repeat}")
    print(f"Corrfunc {Corrfunc.__version__}" + (f", halotools {halotools.__version__}" if halotools else "")
          + f", numpy {np.__version__}; iaemu {iaemu_bin if have_iaemu else '(not run)'}")
    print("Corrfunc runs on the float32 positions (its float32 kernels; bins [r_k, r_k+1)); halotools on "
          "float64 copies; iaemu reads an N x 6 float32 .npy (x, y, z, ex, ey, ez).")

    rows = []
    halo_ns_per_pair = {}   # threads -> ns per pair measured on the largest sample so far
    for n in sizes:
        if n == n_full:
            idx = np.arange(n_full)
        else:
            idx = np.sort(np.random.default_rng(SUBSAMPLE_SEED + n).choice(n_full, size=n, replace=False))
        pos32 = full[idx]
        ori = ori_full[idx]
        label = "full" if n == n_full else str(n)

        catalog = None
        if have_iaemu:
            catalog = os.path.join(args.out_dir, f"gals_Mr19_{label}.npy")
            cat = np.empty((n, 6), dtype=np.float32)
            cat[:, :3] = pos32
            cat[:, 3:] = ori.astype(np.float32)
            np.save(catalog, cat)
            del cat

        dv = 4.0 / 3.0 * np.pi * np.diff(R_EDGES ** 3)
        for k in threads_list:
            row = {"n": n, "threads": k}
            print(f"\n== N = {n} ({label}), threads = {k}", flush=True)

            # (a) Corrfunc
            t_cf, npairs = best_of(args.repeat, lambda: run_corrfunc(pos32, k, args.box))
            pairs_total = int(npairs.sum())
            xi_cf = npairs * args.box ** 3 / (float(n) ** 2 * dv) - 1.0
            row.update(corrfunc_s=t_cf, pairs_total=pairs_total, corrfunc_npairs=npairs.tolist())
            print(f"  Corrfunc DD (float32): {t_cf:.3f} s, {pairs_total} ordered pairs in (0.1, 16], "
                  f"{t_cf / pairs_total * 1e9:.2f} ns/pair", flush=True)
            # iaemu computes in float64: also time Corrfunc's float64 kernels on the same positions.
            pos64_cf = pos32.astype(np.float64)
            t_cf64, _ = best_of(args.repeat, lambda: run_corrfunc(pos64_cf, k, args.box))
            row["corrfunc64_s"] = t_cf64
            print(f"  Corrfunc DD (float64): {t_cf64:.3f} s, {t_cf64 / pairs_total * 1e9:.2f} ns/pair", flush=True)

            # (b) halotools
            row["halotools_s"] = None
            row["halotools_estimated_s"] = None
            if halotools is not None:
                est = None
                if k in halo_ns_per_pair:
                    est = halo_ns_per_pair[k] * pairs_total * 1e-9
                if est is not None and est > args.halotools_max_s:
                    row["halotools_estimated_s"] = est
                    print(f"  halotools tpcf+ed_3d+ee_3d: skipped (estimated {est:.0f} s)", flush=True)
                else:
                    pos64 = pos32.astype(np.float64)
                    t_h, (ht, _) = best_of(args.repeat, lambda: run_halotools(pos64, ori, k, args.box))
                    row["halotools_s"] = t_h
                    row["halotools_calls_s"] = ht
                    halo_ns_per_pair[k] = t_h / pairs_total * 1e9
                    print(f"  halotools tpcf+ed_3d+ee_3d: {t_h:.3f} s ("
                          + ", ".join(f"{c} {v:.2f} s" for c, v in ht.items())
                          + f"), {t_h / pairs_total * 1e9:.2f} ns/pair", flush=True)

            # (c) iaemu
            row["iaemu_s"] = None
            row["iaemu_elapsed_s"] = None
            if have_iaemu:
                out_json = os.path.join(args.out_dir, f"iaemu_{label}_t{k}.json")
                try:
                    wall, res = float("inf"), None
                    for _ in range(max(1, args.repeat)):
                        w, r = run_iaemu(iaemu_bin, catalog, k, args.box, out_json)
                        if w < wall:
                            wall, res = w, r
                    row["iaemu_s"] = wall
                    row["iaemu_elapsed_s"] = res.get("elapsed_s")
                    row["iaemu_kernel"] = res.get("kernel")
                    msg = f"  iaemu correlate ({res.get('kernel', '?')} kernel): {wall:.3f} s wall"
                    if res.get("elapsed_s") is not None:
                        msg += f" (engine elapsed_s {res['elapsed_s']:.3f} s)"
                    msg += f", {wall / pairs_total * 1e9:.2f} ns/pair"
                    print(msg, flush=True)
                    ia_pairs = res.get("pairs")
                    if ia_pairs is not None and len(ia_pairs) == len(npairs):
                        d = np.abs(np.asarray(ia_pairs, dtype=np.int64) - npairs)
                        row["pairs_max_abs_diff"] = int(d.max())
                        row["pairs_total_diff"] = int(np.sum(ia_pairs) - pairs_total)
                    ia_xi = res.get("xi")
                    if ia_xi is not None and len(ia_xi) == len(xi_cf):
                        ia_xi = np.array([np.nan if v is None else v for v in ia_xi], dtype=float)
                        row["xi_max_abs_diff"] = float(np.nanmax(np.abs(ia_xi - xi_cf)))
                        row["xi_max_rel_diff"] = float(np.nanmax(np.abs(ia_xi - xi_cf) / np.maximum(1.0, np.abs(xi_cf))))
                    print(f"  cross-check vs Corrfunc: max |pairs diff| {row.get('pairs_max_abs_diff', '-')}"
                          f" (total {row.get('pairs_total_diff', '-')}), max |xi diff| "
                          f"{row.get('xi_max_abs_diff', float('nan')):.3g}", flush=True)
                except Exception as e:  # keep the peer numbers even if iaemu fails
                    row["iaemu_error"] = str(e)
                    print(f"  iaemu FAILED: {e}", flush=True)

            # ratios
            # ratios (wall time of the subprocess, which includes process start-up and reading the
            # catalogue, and the engine's own elapsed_s)
            if row["iaemu_s"]:
                h = row["halotools_s"] or row["halotools_estimated_s"]
                for suffix, t_ia in (("", row["iaemu_s"]), ("_engine", row["iaemu_elapsed_s"])):
                    if not t_ia:
                        continue
                    row["iaemu_over_corrfunc" + suffix] = t_ia / t_cf
                    row["iaemu_over_corrfunc64" + suffix] = t_ia / t_cf64
                    if h:
                        row["halotools_over_iaemu" + suffix] = h / t_ia
                if h:
                    row["halotools_over_iaemu_is_estimate"] = row["halotools_s"] is None
            rows.append(row)

    # ---- table
    hdr = (f"{'N':>9} {'thr':>3} {'pairs':>12} | {'CF f32 s':>9} {'ns/pr':>6} {'CF f64 s':>9} | {'halotools s':>12} {'ns/pr':>7} |"
           f" {'iaemu s':>8} {'(engine)':>8} {'ns/pr':>6} | {'ia/CF32':>7} {'(eng)':>6} {'ia/CF64':>7} {'(eng)':>6} {'HT/ia':>7} {'(eng)':>7} |"
           f" {'dpairs':>6} {'dxi':>8}")
    print("\n" + hdr)
    print("-" * len(hdr))
    for r in rows:
        if r["halotools_s"] is not None:
            hs, hns = f"{r['halotools_s']:.3f}", fmt_ns(r["halotools_s"], r["pairs_total"])
        elif r["halotools_estimated_s"] is not None:
            hs, hns = f"~{r['halotools_estimated_s']:.0f} est", fmt_ns(r["halotools_estimated_s"], r["pairs_total"])
        else:
            hs, hns = "-", "-"
        ia_ratio = f"{r['iaemu_over_corrfunc']:.2f}" if "iaemu_over_corrfunc" in r else "-"
        ia_ratio_e = f"{r['iaemu_over_corrfunc_engine']:.2f}" if "iaemu_over_corrfunc_engine" in r else "-"
        ia64 = f"{r['iaemu_over_corrfunc64']:.2f}" if "iaemu_over_corrfunc64" in r else "-"
        ia64_e = f"{r['iaemu_over_corrfunc64_engine']:.2f}" if "iaemu_over_corrfunc64_engine" in r else "-"
        star = "*" if r.get("halotools_over_iaemu_is_estimate") else ""
        ht_ratio = f"{r['halotools_over_iaemu']:.1f}{star}" if "halotools_over_iaemu" in r else "-"
        ht_ratio_e = f"{r['halotools_over_iaemu_engine']:.1f}{star}" if "halotools_over_iaemu_engine" in r else "-"
        dxi = f"{r['xi_max_abs_diff']:.1e}" if "xi_max_abs_diff" in r else "-"
        print(f"{r['n']:>9} {r['threads']:>3} {r['pairs_total']:>12} | {r['corrfunc_s']:>9.3f} "
              f"{fmt_ns(r['corrfunc_s'], r['pairs_total']):>6} {r['corrfunc64_s']:>9.3f} | {hs:>12} {hns:>7} | {fmt_s(r['iaemu_s']):>8} "
              f"{fmt_s(r['iaemu_elapsed_s']):>8} {fmt_ns(r['iaemu_s'], r['pairs_total']):>6} | {ia_ratio:>7} "
              f"{ia_ratio_e:>6} {ia64:>7} {ia64_e:>6} {ht_ratio:>7} {ht_ratio_e:>7} | {str(r.get('pairs_max_abs_diff', '-')):>6} {dxi:>8}")
    print("ns/pr: wall time per ordered pair in (0.1, 16] (Corrfunc's count). ia/CF32, ia/CF64: iaemu (xi+omega+eta, float64) time / "
          "Corrfunc (xi alone) with its float32 or float64 kernels, target <= 1 on 1 thread; (eng) uses iaemu's own elapsed_s instead of the "
          "subprocess wall time (which includes start-up and reading the file). HT/ia: halotools (3 calls) time / iaemu, target >= 20 "
          "(* = from the estimate). dpairs: max |iaemu pairs - Corrfunc npairs| per bin; dxi: max |iaemu xi - "
          "(npairs V/(N^2 dV) - 1)|. Corrfunc computes float32 distances with bins [r_k, r_k+1) and iaemu/halotools "
          "use (r_k, r_k+1], so a few pairs at the bin edges may differ.")
    if iaemu_missing_msg:
        print(iaemu_missing_msg)

    report = {
        "data": data, "box_size": args.box, "n_full": n_full, "r_edges": R_EDGES.tolist(),
        "orientation_seed": ORIENTATION_SEED, "subsample_seed": SUBSAMPLE_SEED,
        "cores": cores, "cpu": cpu_model(), "platform": platform.platform(), "repeat": args.repeat,
        "versions": {"Corrfunc": Corrfunc.__version__, "halotools": halotools.__version__ if halotools else None,
                     "numpy": np.__version__, "python": platform.python_version()},
        "iaemu": iaemu_bin if have_iaemu else None, "iaemu_note": iaemu_missing_msg,
        "rows": rows,
    }
    path = os.path.join(args.out_dir, "bench.json")
    with open(path, "w") as fh:
        json.dump(report, fh, indent=1, default=float)
        fh.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

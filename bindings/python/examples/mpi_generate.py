"""A training dataset made in parallel with MPI through the Python binding.

Rank 0 draws a design of parameter points inside the built-in emulator's training domain
(Emulator().info.domain_min / domain_max): a Latin hypercube or uniform random points, seeded.
It makes the synthetic universe once and saves it into the output folder; every rank loads that
file, simulates its share of the points (point i goes to rank i mod size) with iaemu.simulate,
and rank 0 gathers the results and writes, with np.save:

    params.npy   (n, 7)          the design, in iaemu.PARAM_NAMES order
    mean.npy     (n, 3, n_bins)  mean over realisations of xi, omega, eta
    var.npy      (n, 3, n_bins)  their variance over realisations (divisor R - 1)
    valid.npy    (n,) uint8      0 where the point put fewer than 2 galaxies in the box (rows NaN)
    r_edges.npy  (n_bins + 1,)   bin edges, Mpc/h
    halos.npz                    the universe every rank used
    meta.json                    the dataset format of `iaemu generate` (design "given"), so that
                                 `iaemu train --data DIR` reads the folder; under "mpi" the
                                 design, the rank that made each point, timings

Point i is simulated with seed (--seed + i), so any point can be re-run on its own:
    iaemu.simulate(iaemu.Halos.load(DIR/halos.npz), params[i], R, seed + i)

Run (from the repository root, after bash bindings/python/setup.sh):
    mpirun -np 4 .venv-bindings/bin/python bindings/python/examples/mpi_generate.py \
        --n 64 --realizations 4 --box 100 --grid 64 --out target/mpi-dataset
(as root add --allow-run-as-root; with more ranks than cores add --oversubscribe).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from mpi4py import MPI

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the package beside this example
import iaemu  # noqa: E402


def design(kind: str, n: int, lo: np.ndarray, hi: np.ndarray, seed: int) -> np.ndarray:
    """n points in the box [lo, hi]: a Latin hypercube (one point per 1/n stratum in every
    parameter) or uniform random points."""
    rng = np.random.default_rng(seed)
    d = lo.size
    if kind == "lhs":
        strata = np.stack([rng.permutation(n) for _ in range(d)], axis=1)
        u = (strata + rng.uniform(size=(n, d))) / n
    elif kind == "random":
        u = rng.uniform(size=(n, d))
    else:
        raise ValueError(f"design {kind!r}: expected lhs or random")
    return lo + u * (hi - lo)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, required=True, help="number of parameter points")
    ap.add_argument("--realizations", type=int, default=4, help="realisations per point (default 4)")
    ap.add_argument("--design", choices=("lhs", "random"), default="lhs")
    ap.add_argument("--seed", type=int, default=1, help="seed of the design; point i uses seed + i")
    ap.add_argument("--box", type=float, default=250.0, help="synthetic universe box side, Mpc/h")
    ap.add_argument("--grid", type=int, default=128, help="synthetic universe FFT grid per side")
    ap.add_argument("--universe-seed", type=int, default=1)
    ap.add_argument("--halos", help="use this halo catalogue instead of the synthetic universe")
    ap.add_argument("--threads", type=int, default=0,
                    help="library threads per rank (default: cores / ranks, at least 1)")
    ap.add_argument("--out", required=True, help="output folder")
    args = ap.parse_args()

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    out = Path(args.out)
    threads = args.threads or max(1, (os.cpu_count() or 1) // size)
    iaemu.set_num_threads(threads)
    t0 = time.time()

    # Rank 0: the design inside the emulator's domain, and the shared universe.
    setup = None
    if rank == 0:
        try:
            out.mkdir(parents=True, exist_ok=True)
            with iaemu.Emulator(device="cpu") as emu:
                info = emu.info
                lo, hi = info.domain_min.copy(), info.domain_max.copy()
            params = design(args.design, args.n, lo, hi, args.seed)
            halos_file = out / "halos.npz"
            if args.halos:
                with iaemu.Halos.load(args.halos) as h:
                    h.save(halos_file)
            else:
                with iaemu.Halos.synthetic(box_size=args.box, grid=args.grid, seed=args.universe_seed) as h:
                    h.save(halos_file)
            setup = {"params": params, "lo": lo, "hi": hi, "halos": str(halos_file)}
        except Exception as e:  # every rank must hear about it, or they wait forever
            setup = {"error": f"{type(e).__name__}: {e}"}
    setup = comm.bcast(setup, root=0)
    if "error" in setup:
        if rank == 0:
            print(f"mpi_generate: {setup['error']}", file=sys.stderr)
        return 1
    params = setup["params"]

    # Every rank: its share of the points.
    mine = {"points": [], "error": None, "r_edges": None}
    try:
        with iaemu.Halos.load(setup["halos"]) as halos:
            for i in range(rank, args.n, size):
                try:
                    r = iaemu.simulate(halos, params[i], args.realizations, args.seed + i)
                    mine["points"].append((i, r.mean, r.var, True, ""))
                    mine["r_edges"] = r.r_edges
                except iaemu.InvalidArgumentError as e:  # e.g. fewer than two galaxies in the box
                    mine["points"].append((i, None, None, False, e.message))
    except Exception as e:
        mine["error"] = f"rank {rank}: {type(e).__name__}: {e}"
    mine["seconds"] = time.time() - t0
    gathered = comm.gather(mine, root=0)
    if rank != 0:
        return 0

    errors = [g["error"] for g in gathered if g["error"]]
    if errors:
        print("mpi_generate: " + "; ".join(errors), file=sys.stderr)
        return 1
    r_edges = next((g["r_edges"] for g in gathered if g["r_edges"] is not None), iaemu.default_r_edges())
    nb = r_edges.size - 1
    mean = np.full((args.n, 3, nb), np.nan)
    var = np.full((args.n, 3, nb), np.nan)
    valid = np.zeros(args.n, dtype=np.uint8)
    made_by = np.full(args.n, -1)
    notes = {}
    for k, g in enumerate(gathered):
        for i, m, v, ok, msg in g["points"]:
            made_by[i] = k
            if ok:
                mean[i], var[i], valid[i] = m, v, 1
            else:
                notes[str(i)] = msg
    assert (made_by >= 0).all(), "a point was not simulated"
    np.save(out / "params.npy", params)
    np.save(out / "mean.npy", mean)
    np.save(out / "var.npy", var)
    np.save(out / "valid.npy", valid)
    np.save(out / "r_edges.npy", r_edges)
    # meta.json in the format of `iaemu generate` ("iaemu-dataset-1", design "given": points
    # chosen here), so that `iaemu train --data OUT` and `iaemu evaluate --all` read the folder;
    # the keys under "mpi" are this example's own record.
    with iaemu.Halos.load(setup["halos"]) as h:
        halos_info = h.info
    universe = ({"source": args.halos} if args.halos else
                {"synthetic": {"box_size": args.box, "grid": args.grid, "seed": args.universe_seed}})
    meta = {
        "format": "iaemu-dataset-1",
        "iaemu_version": iaemu.version(),
        "param_names": list(iaemu.PARAM_NAMES),
        "plan": {
            "design": "given",
            "n_points": args.n,
            "realizations": args.realizations,
            "seed": args.seed,
            "r_edges": r_edges.tolist(),
            "populate": {"satellites": "Auto", "satellites_times_centrals": False,
                         "min_host_particles": 300.0},
            "chunk": args.n,
            "halos": {"source": "halos.npz", "simname": "", "notes": json.dumps(universe),
                      "n_halos": halos_info["n_halos"], "box_size": list(halos_info["box_size"])},
        },
        "shard": {"index": 0, "count": 1},
        "mpi": {
            "generator": "bindings/python/examples/mpi_generate.py",
            "design": args.design,
            "point_seed": "seed + i",
            "domain_min": setup["lo"].tolist(),
            "domain_max": setup["hi"].tolist(),
            "mpi_size": size,
            "threads_per_rank": threads,
            "rank_of_point": made_by.tolist(),
            "invalid_points": notes,
            "seconds_per_rank": [g["seconds"] for g in gathered],
        },
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"mpi_generate: {args.n} points ({int(valid.sum())} valid) x {args.realizations} realisations "
          f"on {size} ranks in {time.time() - t0:.1f} s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

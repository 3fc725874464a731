"""Loads a halo catalogue file with halotools 0.9.4's CachedHaloCatalog(fname=...) and prints
what halotools read, as JSON, for tests/halos_peer.rs to compare with iaemu's own view: per
column the sum of the values that are not NaN, the number of NaN, and the first three (NaN as
null).

Usage: python halotools_load.py FILE.hdf5
"""
import json
import sys

import numpy as np
from halotools.sim_manager import CachedHaloCatalog


def text(v):
    """halotools hands attributes back as bytes or str depending on how they were stored."""
    return v.decode() if isinstance(v, bytes) else str(v)


def main(fname):
    cat = CachedHaloCatalog(fname=fname)
    t = cat.halo_table
    cols = {}
    for name in t.colnames:
        col = np.asarray(t[name])
        # NaN (an unknown shape, halo_b_to_a / halo_c_to_a) is not JSON: counted, left out of
        # the sum, and null among the first values.
        nan = np.isnan(col) if col.dtype.kind == "f" else np.zeros(len(col), dtype=bool)
        cols[name] = {
            "sum": float(np.sum(col[~nan], dtype=np.float64)),
            "nan": int(nan.sum()),
            "first": [None if isinstance(v, float) and np.isnan(v) else v for v in col[:3].tolist()],
        }
    out = {
        "halotools_version": __import__("halotools").__version__,
        "rows": len(t),
        "Lbox": np.atleast_1d(cat.Lbox).astype(float).tolist(),
        "particle_mass": float(cat.particle_mass),
        "redshift": float(cat.redshift),
        "simname": text(cat.simname),
        "halo_finder": text(cat.halo_finder),
        "columns": cols,
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])

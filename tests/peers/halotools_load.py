"""Loads a halo catalogue file with halotools 0.9.4's CachedHaloCatalog(fname=...) and prints
what halotools read, as JSON, for tests/halos_peer.rs to compare with iaemu's own view.

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
        cols[name] = {"sum": float(np.sum(col, dtype=np.float64)), "first": col[:3].tolist()}
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

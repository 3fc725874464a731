"""iaemu from Python: predict xi, omega and eta with the built-in emulator for a batch of
parameter points (mean, aleatoric and epistemic standard deviations), then simulate the first
point on a synthetic universe for comparison.

Run from the repository root (after bash bindings/python/setup.sh):
    .venv-bindings/bin/python bindings/python/examples/example.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the package beside this example
import iaemu  # noqa: E402

# Two points in the order of iaemu.PARAM_NAMES: the -20 point of Zheng et al. (2007) with
# mu_cen = mu_sat = 0.8, and one with weaker alignments.
params = np.array([
    [0.8, 0.8, 12.02, 0.26, 11.38, 13.31, 1.06],
    [0.3, -0.2, 12.5, 0.4, 12.0, 13.6, 1.0],
])

print(f"iaemu {iaemu.version()}; parameters {', '.join(iaemu.PARAM_NAMES)}")
with iaemu.Emulator() as emu:  # the built-in model, on CUDA when present
    info = emu.info
    print(f"emulator on {emu.device}: {info.n_weights} weights, {info.n_bins} bins, domain")
    for name, lo, hi in zip(iaemu.PARAM_NAMES, info.domain_min, info.domain_max):
        print(f"  {name:>10} [{lo:8.4f}, {hi:8.4f}]")
    edges = emu.r_edges
    r = np.sqrt(edges[:-1] * edges[1:])
    pred = emu.predict(params, mc_passes=20, seed=42)  # arrays (2, 3, n_bins)

for i in range(len(params)):
    print(f"point {i} (domain flags {pred.flags[i]})")
    print(f"{'r':>8}" + "".join(f" {s:>11} {'sd_ale':>9} {'sd_epi':>9}" for s in iaemu.STATISTICS))
    for b in range(r.size):
        row = "".join(
            f" {pred.mean[i, s, b]:11.4e} {np.sqrt(pred.aleatoric_var[i, s, b]):9.2e}"
            f" {np.sqrt(pred.epistemic_var[i, s, b]):9.2e}"
            for s in range(3)
        )
        print(f"{r[b]:8.4f}{row}")

# The truth the emulator replaces: 2 realisations of the first point on a synthetic universe
# (a 100 Mpc/h box here, to keep the example quick).
with iaemu.Halos.synthetic(box_size=100, grid=64, seed=1) as halos:
    sim = iaemu.simulate(halos, params[0], n_realizations=2, seed=1)
r_sim = np.sqrt(sim.r_edges[:-1] * sim.r_edges[1:])
print("simulated, point 0 (100 Mpc/h box, 2 realisations): mean +- sd")
print(f"{'r':>8}" + "".join(f" {s:>11} {'sd':>9}" for s in iaemu.STATISTICS))
for b in range(r_sim.size):
    print(f"{r_sim[b]:8.4f}" + "".join(f" {sim.mean[s, b]:11.4e} {np.sqrt(sim.var[s, b]):9.2e}" for s in range(3)))

#!/bin/bash
# The Rust results every binding's test checks its numbers against: the same inputs run through
# the `iaemu` command line, written as JSON and as flat text (one number per line, C order) for
# languages without a JSON reader in their standard library.
#   bash bindings/reference.sh LIBDIR OUTDIR     (LIBDIR holds iaemu and libiaemu.so)
# The inputs (one place for them; each binding's test uses these names):
#   halos.hdf5         the synthetic universe with box 60 Mpc/h, grid 32, seed 1 (IaSyntheticOptions
#                      default otherwise), as halotools HDF5
#   PARAMS point 0     the -20 point: 0.8 0.8 12.02 0.26 11.38 13.31 1.06; point 1: 0.3 -0.2 12.5 0.4 12.0 13.6 1.0
#   galaxies.npy       point 0 populated on halos.hdf5 with seed 1 (x,y,z,ex,ey,ez per galaxy)
# Outputs in OUTDIR:
#   params.txt                   2 x 7
#   predict.json                 built-in emulator, both points, 20 MC passes, seed 42, with the Jacobian
#   predict_mean.txt, predict_aleatoric_var.txt, predict_epistemic_var.txt   2 x 3 x 20 (point, statistic, bin)
#   predict_plain_mean.txt       2 x 3 x 20: the plain (one-pass) mean as ia_predict_jacobian computes it
#                                (equal to a one-pass ia_predict_batch only to float32 rounding)
#   jacobian.txt                 2 x 3 x 20 x 7 (point, statistic, bin, parameter)
#   simulate.json, simulate_mean.txt, simulate_var.txt   point 0 on halos.hdf5, 2 realisations, seed 1: 3 x 20
#   correlate.json, correlate.txt                         xi, omega, eta of galaxies.npy in the 60 Mpc/h box: 3 x 20
#   r_edges.txt                  the 21 default bin edges, Mpc/h
#   counts.txt                   name value lines: n_halos, n_hosts, n_galaxies, n_centrals, and
#                                n_weights of the built-in model (read from its file's metadata)
set -euo pipefail
lib="$1"
out="$2"
iaemu="$lib/iaemu"
mkdir -p "$out"
p0=0.8,0.8,12.02,0.26,11.38,13.31,1.06
p1=0.3,-0.2,12.5,0.4,12.0,13.6,1.0
"$iaemu" halos synth --box 60 --grid 32 --seed 1 --out "$out/halos.hdf5" >/dev/null 2>&1
"$iaemu" halos info "$out/halos.hdf5" > "$out/halos-info.txt"
"$iaemu" populate --params $p0 --halos "$out/halos.hdf5" --seed 1 --out "$out/galaxies.npy" > "$out/populate.txt" 2>&1
"$iaemu" correlate --catalog "$out/galaxies.npy" --box 60 --out "$out/correlate.json" >/dev/null 2>&1
"$iaemu" simulate --params $p0 --halos "$out/halos.hdf5" --realizations 2 --seed 1 --out "$out/simulate.json" >/dev/null 2>&1
"$iaemu" predict --params $p0 --params $p1 --mc 20 --seed 42 --jacobian --out "$out/predict.json" >/dev/null 2>&1
model="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/training/default-model/iaemu-default.safetensors"
python3 - "$out" "$model" <<'PY'
import json, re, struct, sys
out, model = sys.argv[1:3]
def flat(x):
    return [v for e in x for v in flat(e)] if isinstance(x, list) else [x]
def write(name, values):
    with open(f"{out}/{name}", "w") as f:
        f.write("".join(f"{v!r}\n" for v in values))
stats = ("xi", "omega", "eta")
pred = json.load(open(f"{out}/predict.json"))
write("params.txt", flat(pred["params"]))
write("r_edges.txt", pred["r_edges"])
for suffix in ("", "_aleatoric_var", "_epistemic_var"):
    write(f"predict{suffix or '_mean'}.txt", flat([[pred[s + suffix][i] for s in stats] for i in range(2)]))
write("predict_plain_mean.txt", flat(pred["jacobian_mean"]))
write("jacobian.txt", flat(pred["jacobian"]))
sim = json.load(open(f"{out}/simulate.json"))
write("simulate_mean.txt", flat([sim[s] for s in stats]))
write("simulate_var.txt", flat([sim[s + "_var"] for s in stats]))
cor = json.load(open(f"{out}/correlate.json"))
write("correlate.txt", flat([cor[s] for s in stats]))
info = open(f"{out}/halos-info.txt").read()
n_halos, n_hosts = map(int, re.search(r"halos: (\d+) \((\d+) hosts", info).groups())
n_gal, n_cen = map(int, re.search(r"(\d+) galaxies \((\d+) centrals", open(f"{out}/populate.txt").read()).groups())
raw = open(model, "rb").read()
header = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])
n_weights = json.loads(header["__metadata__"]["iaemu"])["training"]["n_weights"]
with open(f"{out}/counts.txt", "w") as f:
    f.write(f"n_halos {n_halos}\nn_hosts {n_hosts}\nn_galaxies {n_gal}\nn_centrals {n_cen}\nn_weights {n_weights}\n")
PY

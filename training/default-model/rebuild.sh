#!/bin/bash
# Rebuilds the built-in model (training/default-model/iaemu-default.safetensors) from nothing:
# the default synthetic universe (250 Mpc/h, seed 1: the universe `iaemu expect` describes
# with no files), the paper's design on it, 50,000 points with their expected correlations,
# every 16th point also simulated 8 times (seed 1), then training on the expected correlations
# with config.json (seed 1), evaluation against them, and a check that the model and the
# expectation agree at a few points. Times on 2 cores: README.md here. A re-run resumes the
# dataset and the training. Run from anywhere; the dataset goes to $1 (default
# target/default-model-data).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
iaemu="$root/target/release/iaemu"
here="$root/training/default-model"
data="${1:-$root/target/default-model-data}/paper-50k-every16-r8"
"$iaemu" generate --design paper --n 50000 --realizations 8 --realizations-every 16 --expected --seed 1 \
    --chunk 128 --out "$data"
"$iaemu" train --data "$data" --config "$here/config.json" --out "$here/iaemu-default.safetensors"
"$iaemu" evaluate --model "$here/iaemu-default.safetensors" --data "$data" --truth expected \
    --out "$here/metrics.json" --plot "$here/evaluation.png"
# The model against the expectation of the same universe (its default table, made on first use
# and cached), at three points of the design's band.
points=(--params=0.8,0.5,12.0,0.3,12.0,13.2,1.0 --params=-0.4,0.9,12.8,0.45,12.6,13.7,1.0
        --params=0.3,-0.6,13.5,0.55,13.4,14.2,1.0)
"$iaemu" predict --model "$here/iaemu-default.safetensors" "${points[@]}" --out "$data/predict.json"
"$iaemu" expect "${points[@]}" --out "$data/expect.json"
python3 - "$data/predict.json" "$data/expect.json" <<'PY'
import json, math, sys
pred, exp = (json.load(open(f)) for f in sys.argv[1:3])
for i, p in enumerate(pred["params"]):
    line = []
    for s in ("xi", "omega", "eta"):
        z = [abs(m - e) / math.sqrt(a + v) for m, e, a, v in zip(
            pred[s][i], exp[s][i], pred[s + "_aleatoric_var"][i], pred[s + "_epistemic_var"][i])]
        line.append(f"{s} median {sorted(z)[len(z) // 2]:.3f} max {max(z):.3f}")
    print(f"{p}: |predict - expect| / predicted sigma: " + ", ".join(line))
PY
echo "rebuild the library (cargo build --release) to embed the new model"

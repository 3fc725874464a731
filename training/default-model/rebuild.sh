#!/bin/bash
# Rebuilds the built-in model (training/default-model/iaemu-default.safetensors) from nothing:
# the synthetic universe with its default settings but a 160 Mpc/h box (seed 1), the paper's
# design on it, 10,000 points x 4 realisations (seed 1), then training with config.json
# (seed 1). About 35 min for the dataset and 15 min for the training on 2 cores (a re-run
# resumes either step). Run from anywhere; the dataset goes to $1 (default target/).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
iaemu="$root/target/release/iaemu"
data="${1:-$root/target/default-model-data}"
mkdir -p "$data"
[ -e "$data/synth-160.hdf5" ] || "$iaemu" halos synth --box 160 --seed 1 --out "$data/synth-160.hdf5"
"$iaemu" generate --design paper --n 10000 --realizations 4 --seed 1 --halos "$data/synth-160.hdf5" \
    --out "$data/paper-10k-r4-box160"
"$iaemu" train --data "$data/paper-10k-r4-box160" --config "$root/training/default-model/config.json" \
    --out "$root/training/default-model/iaemu-default.safetensors"
"$iaemu" evaluate --model "$root/training/default-model/iaemu-default.safetensors" --data "$data/paper-10k-r4-box160" \
    --out "$root/training/default-model/metrics.json" --plot "$root/training/default-model/evaluation.png"
echo "rebuild the library (cargo build --release) to embed the new model"

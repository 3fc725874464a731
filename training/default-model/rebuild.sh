#!/bin/bash
# Rebuilds the built-in model (training/default-model/iaemu-default.safetensors) from nothing:
# the paper's design on the default synthetic universe, 10,000 points x 4 realisations (seed 1),
# in 4 shards run one after another (or at once on 4 machines, or with --shard auto under
# mpirun or SLURM: see training/README.md), merged, then trained with config.json (seed 1).
# About 80 min for the dataset and 25 min for the training on 2 cores. Run from anywhere.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
iaemu="$root/target/release/iaemu"
data="${1:-$root/target/default-model-data}"
for k in 0 1 2 3; do
    "$iaemu" generate --design paper --n 10000 --realizations 4 --seed 1 --shard "$k/4" --out "$data"
done
"$iaemu" merge "$data"/shard-*-of-4 --out "$data/merged"
"$iaemu" train --data "$data/merged" --config "$root/training/default-model/config.json" \
    --out "$root/training/default-model/iaemu-default.safetensors"
"$iaemu" evaluate --model "$root/training/default-model/iaemu-default.safetensors" --data "$data/merged" \
    --out "$root/training/default-model/metrics.json" --plot "$root/training/default-model/evaluation.png"
echo "rebuild the library (cargo build --release) to embed the new model"

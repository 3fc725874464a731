#!/bin/bash
# A training dataset with MPI as the launcher (OpenMPI or MPICH): each rank runs one shard
# (`--shard auto` reads OMPI_COMM_WORLD_RANK/SIZE or PMI_RANK/SIZE), then one merge.
#
#   bash training/generate-mpi.sh 4 data/lhs-2k      # 4 ranks
set -euo pipefail
ranks="${1:-2}"
out="${2:-data/lhs-2k}"
bin="$(dirname "$0")/../target/lite/release/iaemu"
mpirun -np "$ranks" "$bin" generate --design lhs --n 2000 --realizations 10 --seed 1 \
    --threads 1 --shard auto --out "$out"
"$bin" merge "$out"/shard-*-of-"$ranks" --out "$out"

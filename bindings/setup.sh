#!/bin/bash
# Installs what the bindings' tests need, each binding's own setup.sh in turn: gfortran (Fortran),
# Julia 1.5 unpacked into .tools/julia (Julia), .venv-bindings with NumPy, pytest and mpi4py
# (Python), Cobaya and CosmoSIS (Python samplers). Idempotent: quiet and quick once done.
#   bash bindings/setup.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
for script in bindings/fortran/setup.sh bindings/julia/setup.sh bindings/python/setup.sh \
              bindings/python/setup-samplers.sh; do
    echo "bindings: $script"
    bash "$script"
done

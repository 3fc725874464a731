#!/bin/bash
# Installs what the Python binding and its tests need: a virtual environment .venv-bindings in the
# repository root with numpy, pytest and mpi4py (which needs OpenMPI's mpicc: apt-get when root).
# Idempotent and quiet when everything is there. Usage: bash bindings/python/setup.sh
# (The Cobaya and CosmoSIS samplers: bindings/python/setup-samplers.sh.)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
venv=.venv-bindings
py="$venv/bin/python"

command -v python3 >/dev/null 2>&1 || { echo "python setup: python3 (3.9+) is required" >&2; exit 1; }

# OpenMPI (mpicc to build mpi4py, mpirun for the MPI example and its test).
if ! command -v mpicc >/dev/null 2>&1 || ! command -v mpirun >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "python setup: installing OpenMPI (apt: libopenmpi-dev openmpi-bin)"
        apt_install() { flock /tmp/iaemu-apt.lock apt-get install -y -q "$@" >/dev/null; }
        apt_install libopenmpi-dev openmpi-bin \
            || { flock /tmp/iaemu-apt.lock apt-get update -q >/dev/null && apt_install libopenmpi-dev openmpi-bin; }
    else
        echo "python setup: OpenMPI is required for mpi4py: apt-get install libopenmpi-dev openmpi-bin (as root)" >&2
        exit 1
    fi
fi

# The venv module (Debian ships it separately).
if [ ! -x "$py" ]; then
    if ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then
        if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
            echo "python setup: installing python3-venv (apt)"
            flock /tmp/iaemu-apt.lock apt-get install -y -q python3-venv >/dev/null \
                || { flock /tmp/iaemu-apt.lock apt-get update -q >/dev/null && flock /tmp/iaemu-apt.lock apt-get install -y -q python3-venv >/dev/null; }
        else
            echo "python setup: the venv module is required: apt-get install python3-venv" >&2
            exit 1
        fi
    fi
    echo "python setup: creating $venv"
    python3 -m venv "$venv"
fi

if ! "$py" -c "import numpy, pytest, mpi4py" >/dev/null 2>&1; then
    echo "python setup: installing numpy, pytest and mpi4py into $venv"
    "$py" -m pip install --quiet --upgrade pip
    "$py" -m pip install --quiet numpy pytest mpi4py
    "$py" -c "import numpy, pytest, mpi4py" || { echo "python setup: the installs do not import (see above)" >&2; exit 1; }
fi

#!/bin/bash
# Installs the samplers the iaemu Cobaya theory and CosmoSIS module run under (SAMPLERS.md):
# Cobaya and CosmoSIS, into the bindings' venv (.venv-bindings, made by bindings/python/setup.sh,
# which this script runs first when the venv is missing).
#   bash bindings/python/setup-samplers.sh
# Idempotent and quiet when everything is there. CosmoSIS has no wheel: pip builds it from source
# (about 1.5 min on 2 cores), which needs C, C++ and Fortran compilers, make and LAPACK (its
# MultiNest links -llapack; without liblapack-dev the build stops with "cannot find -llapack").
# It also prints "MPI Compiler not found" unless MPIFC is set: harmless, MultiNest is then built
# without MPI. As root on Debian/Ubuntu the missing packages are installed with apt-get.
# Versions: COBAYA_SPEC and COSMOSIS_SPEC (pip requirement strings) override the tested ones.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.venv-bindings
py="$venv/bin/python"
cobaya_spec="${COBAYA_SPEC:-cobaya==3.6.2}"
cosmosis_spec="${COSMOSIS_SPEC:-cosmosis==3.26}"

if [ ! -x "$py" ]; then
    if [ -f bindings/python/setup.sh ]; then
        bash bindings/python/setup.sh
    fi
    if [ ! -x "$py" ]; then
        echo "setup-samplers: $venv is missing; run bindings/python/setup.sh first" >&2
        exit 1
    fi
fi

# System packages for building CosmoSIS (Debian names).
apt_pkgs=(gcc g++ gfortran make liblapack-dev)
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
    for p in "${apt_pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
fi
if [ ${#missing[@]} -gt 0 ] && ! "$py" -c "import cosmosis" >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "setup-samplers: installing ${missing[*]} (apt) to build CosmoSIS"
        lock=()
        command -v flock >/dev/null 2>&1 && lock=(flock /tmp/iaemu-apt.lock)
        "${lock[@]}" apt-get install -y -q "${missing[@]}" >/dev/null \
            || { "${lock[@]}" apt-get update -q >/dev/null && "${lock[@]}" apt-get install -y -q "${missing[@]}" >/dev/null; }
    else
        echo "setup-samplers: CosmoSIS needs ${missing[*]} to build; install them (e.g. apt-get install ${missing[*]}) and re-run" >&2
        exit 1
    fi
fi

if ! "$py" -c "import cobaya" >/dev/null 2>&1; then
    echo "setup-samplers: installing $cobaya_spec into $venv"
    "$py" -m pip install -q "$cobaya_spec"
fi
if ! "$py" -c "import cosmosis.runtime.pipeline" >/dev/null 2>&1; then
    echo "setup-samplers: building and installing $cosmosis_spec into $venv (about 1.5 min)"
    log="$(mktemp /tmp/pip-cosmosis.XXXXXX.log)"
    if ! "$py" -m pip install "$cosmosis_spec" >"$log" 2>&1; then
        tail -30 "$log" >&2
        echo "setup-samplers: building CosmoSIS failed; full log in $log" >&2
        exit 1
    fi
    rm -f "$log"
fi

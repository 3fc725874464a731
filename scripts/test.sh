#!/usr/bin/env bash
# Sets up everything (scripts/setup.sh) and runs all tests:
#   1. the Rust tests, with the emulator (LibTorch) build;
#   2. the committed C header is what cbindgen generates from the sources;
#   3. the C programs in tests/c, compiled with the system cc against include/iaemu.h and the
#      built library (no LD_LIBRARY_PATH: the library carries its rpath);
#   4. each binding's test (bindings/test.sh: C, C++, Fortran, Julia, Python with Cobaya,
#      CosmoSIS and the MPI example), after bindings/setup.sh installs gfortran, Julia and the
#      Python tools;
#   5. the lite build (no LibTorch): its Rust tests, the C tests against it, and a check that
#      neither its library nor its command line links LibTorch;
#   6. the C ABI under hostile arguments, with the address sanitizer and under valgrind
#      against both builds (tests/abi/run.sh).
# Tests that read ../shared skip with a message when it is absent; tests against the peer codes
# (halotools loading the HDF5 files iaemu writes) skip with a message without .venv-peers.
# IAEMU_PEERS=1 first builds .venv-peers (scripts/peer-venv.sh, ~7 min the first time) so that
# they run; CI does this.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$IAEMU_ROOT"

step() { printf '\n== %s\n' "$*"; }

step "set-up and release build"
bash scripts/setup.sh
# OpenMPI's mpirun, for the test that runs dataset shards under MPI.
if ! command -v mpirun >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "test: installing openmpi-bin (apt) for the MPI test"
        apt-get install -y -q openmpi-bin >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q openmpi-bin >/dev/null; }
    else
        echo "test: mpirun not found and cannot install it: the MPI test will say SKIPPED"
    fi
fi
if [ "${IAEMU_PEERS:-0}" = 1 ]; then
    step "peer environment (halotools, Corrfunc)"
    bash scripts/peer-venv.sh
fi

step "Rust tests (emulator build)"
cargo test --release --locked

step "C header up to date"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    if ! git diff --exit-code --stat -- include/iaemu.h; then
        echo "include/iaemu.h differs from the header cbindgen generates from src/ffi: commit the regenerated file" >&2
        exit 1
    fi
else
    echo "not a git checkout: skipping the committed-header check"
fi

run_c_tests() {  # $1: directory holding libiaemu.so and the iaemu command
    mkdir -p target/ctest
    # A small dataset for tests/c/test_emulator.c (ia_train): a 60 Mpc/h universe, 48 points.
    export IAEMU_TEST_DATA="$IAEMU_ROOT/target/ctest/data"
    if [ ! -e "$IAEMU_TEST_DATA/params.npy" ]; then
        "$1/iaemu" halos synth --box 60 --grid 32 --out target/ctest/halos-60.npz
        "$1/iaemu" generate --design lhs --n 48 --realizations 2 --halos target/ctest/halos-60.npz \
            --out "$IAEMU_TEST_DATA"
    fi
    for src in tests/c/*.c; do
        exe="target/ctest/$(basename "$src" .c)"
        cc -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -O1 -Iinclude "$src" \
            -L"$1" -liaemu -Wl,-rpath,"$IAEMU_ROOT/$1" -lm -pthread -o "$exe"
        "$exe"
    done
}

step "C tests (emulator build)"
run_c_tests target/release

step "bindings: set-up (gfortran, Julia, Python tools)"
bash bindings/setup.sh

step "bindings: tests"
bash bindings/test.sh target/release

step "lite build (no LibTorch): Rust tests, C tests, no LibTorch linked"
cargo test --release --locked --no-default-features --target-dir target/lite
cargo build --release --locked --no-default-features --target-dir target/lite
run_c_tests target/lite/release
for artefact in target/lite/release/iaemu target/lite/release/libiaemu.so; do
    if ldd "$artefact" | grep -q torch; then
        echo "$artefact links LibTorch, but the lite build must not" >&2
        exit 1
    fi
done
echo "lite artefacts link no LibTorch"

step "C ABI under hostile arguments (address sanitizer, valgrind)"
bash tests/abi/run.sh target/release

step "all tests passed"

#!/usr/bin/env bash
# Sets up everything (scripts/setup.sh) and runs all tests:
#   1. the Rust tests, with the emulator (LibTorch) build;
#   2. on a CPU with AVX-512, as an AVX2-only CPU would run them: the emulator tests with
#      LibTorch limited to AVX2, and the correlation and galaxy-model tests on the AVX2 kernel
#      (scripts/isa-env.sh, whose --check first shows that LibTorch honours the limit);
#   3. the committed C header is what cbindgen generates from the sources, and each function's
#      comment follows the C ABI conventions (tests/abi/header_doc.py);
#   4. the C programs in tests/c, compiled with the system cc against include/iaemu.h and the
#      built library (no LD_LIBRARY_PATH: the library carries its rpath);
#   5. each binding's test (bindings/test.sh: C, C++, Fortran, Julia, Python with Cobaya,
#      CosmoSIS and the MPI example), after bindings/setup.sh installs gfortran, Julia and the
#      Python tools;
#   6. the lite build (no LibTorch): its Rust tests, the C tests against it, and a check that
#      neither its library nor its command line links LibTorch;
#   7. the C ABI under hostile arguments, with the address sanitizer and under valgrind
#      against both builds (tests/abi/run.sh).
# A failing step does not stop the others (only a failed set-up does, as nothing can run
# without it); the command ends with a summary of every failed step, its exit status and the
# failure lines of its log (all logs in target/test-logs/), and exits non-zero.
# Tests that read ../shared skip with a message when it is absent; tests against the peer codes
# (halotools loading the HDF5 files iaemu writes) skip with a message without .venv-peers.
# IAEMU_PEERS=1 first builds .venv-peers (scripts/peer-venv.sh, ~7 min the first time) so that
# they run; CI does this. To see everything as another CPU would, limit the whole run:
#   source scripts/isa-env.sh avx2 && bash scripts/test.sh
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$IAEMU_ROOT"

logs=target/test-logs
rm -rf "$logs"
mkdir -p "$logs"
failed=()
n_steps=0

# run_step NAME COMMAND...: runs COMMAND (a command, or a function of this script) in a new
# bash with `set -euo pipefail` (a subshell would not do: bash ignores `set -e` inside a
# condition), its output shown and kept in $logs; a failure is recorded for the summary.
run_step() {
    local name=$1
    shift
    n_steps=$((n_steps + 1))
    local log
    log="$logs/$(printf '%02d' "$n_steps")-$(echo "$name" | tr -c 'A-Za-z0-9\n' '-' | cut -c1-40).log"
    printf '\n== %s\n' "$name"
    local start=$SECONDS
    bash -euo pipefail -c '"$@"' "$name" "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    if [ "$rc" -ne 0 ]; then
        failed+=("$name|$rc|$log")
        printf '== FAILED (exit %s, %d s): %s\n' "$rc" $((SECONDS - start)) "$name"
    else
        printf '== ok (%d s): %s\n' $((SECONDS - start)) "$name"
    fi
    return "$rc"
}

setup() {
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
}

rust_tests() {
    cargo test --release --locked --no-fail-fast
}

# On a CPU with AVX-512 the first run took the AVX-512 kernels of LibTorch (ATen, MKL, oneDNN)
# and of the correlation engine; an AVX2-only CPU (many AMD machines) takes others, which round
# differently. Rerun what those kernels feed, limited to AVX2.
avx2_tests() {
    if ! grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
        echo "this CPU has no AVX-512: the first run already took the AVX2 (or narrower) kernels"
        return 0
    fi
    source scripts/isa-env.sh avx2
    bash scripts/isa-env.sh --check avx2
    cargo test --release --locked --no-fail-fast --test emulator --test emulator_peer --test corr --test hod \
        --test isa --test synthetic
}

header_check() {
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        if ! git diff --exit-code --stat -- include/iaemu.h; then
            echo "include/iaemu.h differs from the header cbindgen generates from src/ffi: commit the regenerated file" >&2
            return 1
        fi
        echo "include/iaemu.h is what cbindgen generates"
    else
        echo "not a git checkout: skipping the committed-header check"
    fi
    # every function's comment states its status codes, threads and NULL rules
    python3 tests/abi/header_doc.py
}

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

lite_build() {
    cargo test --release --locked --no-fail-fast --no-default-features --target-dir target/lite
    cargo build --release --locked --no-default-features --target-dir target/lite
    run_c_tests target/lite/release
    for artefact in target/lite/release/iaemu target/lite/release/libiaemu.so; do
        if ldd "$artefact" | grep -q torch; then
            echo "$artefact links LibTorch, but the lite build must not" >&2
            return 1
        fi
    done
    echo "lite artefacts link no LibTorch"
}

export IAEMU_ROOT
export -f setup rust_tests avx2_tests header_check run_c_tests lite_build
if ! run_step "set-up and release build" setup; then
    echo "test: the set-up failed, so nothing can be tested (log: $logs)" >&2
    exit 1
fi
if [ "${IAEMU_PEERS:-0}" = 1 ]; then
    run_step "peer environment (halotools, Corrfunc)" bash scripts/peer-venv.sh
fi
run_step "Rust tests (emulator build)" rust_tests
run_step "Rust tests on AVX2 kernels (emulator, correlations, galaxy model)" avx2_tests
run_step "C header up to date and documented" header_check
run_step "C tests (emulator build)" run_c_tests target/release
if run_step "bindings: set-up (gfortran, Julia, Python tools)" bash bindings/setup.sh; then
    run_step "bindings: tests" bash bindings/test.sh target/release
else
    echo "test: bindings not tested: their set-up failed"
fi
run_step "lite build (no LibTorch): Rust tests, C tests, no LibTorch linked" lite_build
run_step "C ABI under hostile arguments (address sanitizer, valgrind)" bash tests/abi/run.sh target/release

echo
if [ ${#failed[@]} -eq 0 ]; then
    echo "== all $n_steps steps passed"
    exit 0
fi
echo "== ${#failed[@]} of $n_steps steps FAILED:"
for f in "${failed[@]}"; do
    IFS='|' read -r name rc log <<<"$f"
    echo "- $name (exit $rc; log $log)"
    # Why: the failing tests and first lines of each failure, else the log's last lines.
    why=$(grep -E "^test .* FAILED$|panicked at|^error(\[|:)|FAIL|not honoured|differs" "$log" \
        | grep -v "simulated crash" | head -12)
    [ -n "$why" ] || why=$(tail -5 "$log")
    echo "$why" | sed 's/^/    /'
done
exit 1

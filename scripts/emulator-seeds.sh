#!/usr/bin/env bash
# The emulator tests (tests/emulator.rs) over several training seeds, each with LibTorch on this
# CPU's widest instruction set and again limited to AVX2 (scripts/isa-env.sh avx2). Those tests
# train small networks, so their bounds must hold for any weights a training can reach: another
# seed changes the weights far more than another CPU's rounding does. Prints each run's figures
# and verdict; exits non-zero when any run failed. Not part of the test command (about 40 s a run):
#   bash scripts/emulator-seeds.sh          # seeds 1..5
#   bash scripts/emulator-seeds.sh 1 10     # seeds 1..10
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$IAEMU_ROOT"
first=${1:-1}
last=${2:-5}
cargo test --release --locked --test emulator --no-run >/dev/null 2>&1 || { echo "emulator-seeds: the build failed" >&2; exit 1; }
failed=()
for seed in $(seq "$first" "$last"); do
    for isa in native avx2; do
        log=$(mktemp)
        if [ "$isa" = native ]; then
            IAEMU_TEST_TRAIN_SEED=$seed cargo test --release --locked --test emulator -- --nocapture >"$log" 2>&1
        else
            (source scripts/isa-env.sh avx2 >/dev/null && IAEMU_TEST_TRAIN_SEED=$seed \
                cargo test --release --locked --test emulator -- --nocapture) >"$log" 2>&1
        fi
        rc=$?
        echo "== seed $seed, LibTorch $isa: $([ $rc = 0 ] && echo passed || echo FAILED)"
        grep -E "^(statistic|epistemic|test split|resumed|known problem|built-in model)" "$log" | sed 's/^/   /'
        if [ $rc != 0 ]; then
            grep -A2 "panicked at" "$log" | grep -v "simulated crash" | sed 's/^/   /'
            failed+=("seed $seed $isa")
        fi
        rm -f "$log"
    done
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "emulator-seeds: failed: ${failed[*]}"
    exit 1
fi
echo "emulator-seeds: every run passed"

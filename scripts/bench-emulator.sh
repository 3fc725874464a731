#!/bin/bash
# Emulator prediction speed against the same network in PyTorch eager (same torch 2.13 wheel,
# same weights, same thread count), in one run: 32,768 points x 20 Monte Carlo passes, and one
# point x 20 passes. Usage: bash scripts/bench-emulator.sh [THREADS] [DEVICE] [MODEL]
# (MODEL defaults to the built-in model's file).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$IAEMU_ROOT"
threads="${1:-2}"
device="${2:-cpu}"
model="${3:-training/default-model/iaemu-default.safetensors}"
cargo build --release --locked --example bench_predict
ours=$(target/release/examples/bench_predict "$model" "$threads" "$device")
peer=$(.venv/bin/python tests/peers/bench_predict.py "$model" "$threads" "$device")
echo "$ours"
echo "$peer"
python3 - "$ours" "$peer" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
best = min(b["batch_s_batched"], b["batch_s_loop"])
print(f"32768 x 20: iaemu {a['batch_s']:.2f} s, PyTorch eager {b['batch_s_batched']:.2f} s batched / "
      f"{b['batch_s_loop']:.2f} s looped: ratio iaemu / best PyTorch = {a['batch_s'] / best:.3f}")
print(f"1 x 20: iaemu {a['one_point_ms_median']:.2f} ms, PyTorch eager {b['one_point_ms_median']:.2f} ms (medians)")
PY

#!/bin/bash
# The speed figures in one run, on the machine it runs on: process start (full and lite
# builds), the correlation engine against Corrfunc on every kernel this CPU runs (IAEMU_ISA),
# one realisation against halotools, and the dataset throughput. Needs the peer venv
# (bash scripts/peer-venv.sh).
# Usage: bash scripts/bench-speed.sh [THREADS=1,2] [HALOTOOLS=no|yes]
# (HALOTOOLS=yes also times halotools' tpcf, ed_3d and ee_3d on the galaxies: minutes.)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$IAEMU_ROOT"
threads="${1:-1,2}"
halotools="${2:-no}"
full=target/release/iaemu
lite=target/lite/release/iaemu
py=.venv-peers/bin/python
[ -x "$py" ] || { echo "bench-speed: no peer venv; run bash scripts/peer-venv.sh" >&2; exit 1; }
[ -x "$full" ] || { echo "bench-speed: no $full; run bash scripts/setup.sh" >&2; exit 1; }

echo "== CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
echo "== process start (iaemu --version, median of 5 runs)"
for bin in "$full" "$lite"; do
    if [ -x "$bin" ]; then
        python3 - "$bin" <<'PY'
import statistics, subprocess, sys, time
times = []
for _ in range(5):
    t = time.perf_counter()
    subprocess.run([sys.argv[1], "--version"], check=True, stdout=subprocess.DEVNULL)
    times.append(time.perf_counter() - t)
print(f"{sys.argv[1]}: {statistics.median(times) * 1000:.0f} ms")
PY
    else
        echo "$bin: not built (bash scripts/setup.sh --lite)"
    fi
done

widest=$("$full" info | sed -n 's/.*widest this CPU runs: \([a-z0-9]*\).*/\1/p')
case "$widest" in
    avx512) kernels="avx2 avx512" ;;
    avx2) kernels="avx2" ;;
    *) kernels="baseline" ;;
esac
skip=(--no-halotools)
[ "$halotools" = yes ] && skip=()
for isa in $kernels; do
    echo "== correlation engine against Corrfunc, kernel $isa"
    IAEMU_ISA=$isa "$py" tests/peers/bench.py --iaemu "$full" --threads "$threads" --repeat 2 "${skip[@]}" \
        | sed -n '/^ *N thr/,$p'
done

echo "== one realisation against halotools (one thread each)"
IAEMU_NUM_THREADS=1 "$py" -W ignore tests/peers/bench_simulate.py --iaemu "$full" --realizations 3 2>&1 \
    | grep -v -e UserWarning -e 'warn(msg)'

echo "== dataset throughput (iaemu generate --design paper --n 24 --realizations 10, default universe, 2 threads)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$full" generate --design paper --n 24 --realizations 10 --threads 2 --out "$tmp/dataset" 2>&1 \
    | sed -n 's/.*(\([0-9]*\) points) in \([0-9.]*\) s.*/\1 \2/p' \
    | awk '{printf "%d points in %.1f s after making the universe: %.0f points per hour\n", $1, $2, $1 * 3600 / $2}'

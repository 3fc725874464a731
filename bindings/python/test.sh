#!/bin/bash
# The Python binding's test: pytest over bindings/python/tests (the binding against the Rust
# command line's results from bindings/reference.sh, errors, threads, handles, training, and the
# MPI example run with mpirun -np 2 against serial runs; the Cobaya/CosmoSIS modules' tests live
# there too), then the example, then the fenced blocks of README.md and SAMPLERS.md (the latter
# when CosmoSIS is installed) as written (bindings/snippets.py). Usage: bash bindings/python/test.sh [LIBDIR]
# (default target/release: iaemu and libiaemu.so). Needs bash bindings/python/setup.sh first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
lib="${1:-target/release}"
case "$lib" in /*) libabs="$lib" ;; *) libabs="$root/$lib" ;; esac
py=.venv-bindings/bin/python
if ! "$py" -c "import numpy, pytest, mpi4py" >/dev/null 2>&1; then
    echo "bindings/python: $py with numpy, pytest and mpi4py is missing: run bash bindings/python/setup.sh" >&2
    exit 1
fi
for f in libiaemu.so iaemu; do
    [ -e "$libabs/$f" ] || { echo "bindings/python: $libabs/$f not found (build with bash scripts/setup.sh)" >&2; exit 1; }
done
export IAEMU_LIB="$libabs/libiaemu.so" IAEMU_TEST_LIBDIR="$libabs"
out=target/bindings-python
mkdir -p "$out"
rm -rf "$out/checked"
start=$(date +%s)
set +e
"$py" -m pytest -q -p no:cacheprovider bindings/python/tests 2>&1 | tee "$out/pytest.txt"
status=${PIPESTATUS[0]}
set -e
[ "$status" = 0 ] || { echo "bindings/python: pytest failed (status $status)" >&2; exit 1; }
"$py" bindings/python/examples/example.py > "$out/example.txt"
grep -q "^point 1 (domain flags 0)" "$out/example.txt" && grep -q "^simulated, point 0" "$out/example.txt" \
    || { echo "bindings/python: example.py output is incomplete ($out/example.txt)" >&2; exit 1; }
readmes=(bindings/python/README.md)
if [ -x .venv-bindings/bin/cosmosis ]; then
    readmes+=(bindings/python/SAMPLERS.md)
else
    echo "bindings/python: the blocks of SAMPLERS.md not run: CosmoSIS is not installed (bash bindings/python/setup-samplers.sh)"
fi
python3 bindings/snippets.py --out "$out/snippets" --run python="'$root/$py' {file}" "${readmes[@]}"
passed=$(grep -Eo "[0-9]+ passed" "$out/pytest.txt" | tail -1)
read -r nref ncons < <(cat "$out"/checked/*.txt 2>/dev/null | awk '$1=="reference"{r+=$2} $1=="consistency"{c+=$2} END{print r+0, c+0}')
echo "bindings/python: ${passed:-0 passed} in $(( $(date +%s) - start )) s; $nref numbers checked against the Rust command line, $ncons in consistency checks (threads, files, MPI vs serial)"

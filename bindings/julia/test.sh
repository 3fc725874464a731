#!/bin/bash
# The Julia binding's test: makes the reference outputs of the Rust command line
# (bindings/reference.sh and, for tables and expected correlations, bindings/reference-expect.sh),
# compiles and runs bindings/layout.c on the reference halos and table (C struct sizes, offsets
# and values), then runs test.jl, which checks every number IAEmu.jl gets from the library against
# them, and runs example.jl; train is tested on a tiny dataset made here with `iaemu generate`. Last, the fenced
# blocks of bindings/julia/README.md run as written (bindings/snippets.py), outside the
# repository root. Usage: bash bindings/julia/test.sh [LIBDIR] (default target/release; holds
# libiaemu.so and iaemu). Needs the Julia of bindings/julia/setup.sh, cc and python3.
# Outputs go to target/bindings-julia/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
lib="${1:-target/release}"
case "$lib" in /*) ;; *) lib="$root/$lib" ;; esac
out=target/bindings-julia
julia=bindings/julia/julia
if [ ! -x .tools/julia/usr/bin/julia ]; then
    echo "bindings/julia/test.sh: Julia is not installed; run bash bindings/julia/setup.sh" >&2
    exit 1
fi
mkdir -p "$out"
bash bindings/reference.sh "$lib" "$out/ref"
bash bindings/reference-expect.sh "$lib" "$out/ref"  # tables and expected correlations, same folder
cc -std=c11 -Wall -Wextra -Werror -Iinclude bindings/layout.c -L"$lib" -liaemu \
    -Wl,-rpath,"$lib" -o "$out/layout"
"$out/layout" "$out/ref/halos.hdf5" "$out/ref/table.npz" > "$out/layout.txt"
# A tiny training set for train (24 points, about 2 s; kept between runs).
if [ ! -f "$out/train-data/params.npy" ]; then
    rm -rf "$out/train-data"
    { "$lib/iaemu" halos synth --box 60 --grid 32 --out "$out/train-halos.npz" &&
      "$lib/iaemu" generate --design lhs --n 24 --realizations 1 --halos "$out/train-halos.npz" \
          --out "$out/train-data"; } > "$out/train-data.log" 2>&1 ||
        { cat "$out/train-data.log" >&2; exit 1; }
fi
export IAEMU_LIB="$lib/libiaemu.so"
"$julia" --startup-file=no --color=no bindings/julia/example.jl > "$out/example.txt"
grep -q "as expected: IAEmuError(IA_ERR_INVALID_ARGUMENT): ia_populate" "$out/example.txt"
if "$julia" --startup-file=no --color=no bindings/julia/test.jl "$out/ref" "$out/layout.txt" \
        "$out/train-data" "$out/train-work" \
        > "$out/test.txt" 2>&1; then
    tail -n 1 "$out/test.txt"
else
    cat "$out/test.txt"
    echo "bindings/julia/test.sh: FAILED (output in $out/test.txt)" >&2
    exit 1
fi
PATH="$lib:$PATH" python3 bindings/snippets.py --out "$out/snippets" \
    --run julia="'$root/$julia' --startup-file=no --color=no {file}" bindings/julia/README.md

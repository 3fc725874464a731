#!/bin/bash
# The Fortran binding's test: compiles the module, the example and the test programs with
# gfortran -std=f2018 -Wall -Wextra -Werror against the project's library, writes the Rust
# reference results (bindings/reference.sh, and bindings/reference-expect.sh for tables and
# expected correlations, into the same folder) and a small training dataset, and checks every
# function family against them, the error paths, training with a progress function, the struct
# layouts against the C compiler's and the final procedures; last, the fenced blocks of
# bindings/fortran/README.md run as written (bindings/snippets.py).
#   bash bindings/fortran/test.sh [LIBDIR]     (default target/release; 40 to 50 s)
# Needs gfortran and gcc (bindings/fortran/setup.sh) and python3 (for reference.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
lib="${1:-target/release}"
libdir="$(cd "$lib" && pwd)"
out=target/bindings-fortran
src=bindings/fortran
mkdir -p "$out/mod" "$out/tmp"
rm -f "$out/tmp/"*

flags=(-std=f2018 -Wall -Wextra -Werror -g -J "$out/mod")
link=(-L"$libdir" -liaemu -Wl,-rpath,"$libdir")
gfortran "${flags[@]}" -c "$src/iaemu.f90" -o "$out/iaemu.o"
gfortran "${flags[@]}" "$src/example.f90" "$out/iaemu.o" "${link[@]}" -o "$out/example"
gfortran "${flags[@]}" "$src/test_abort.f90" "$out/iaemu.o" "${link[@]}" -o "$out/test_abort"
# -Wno-compare-reals for the test program only: it compares reals for exact equality on purpose
# (the library is deterministic: the same inputs give bit-identical numbers).
gfortran "${flags[@]}" -Wno-compare-reals "$src/test_iaemu.f90" "$out/iaemu.o" "${link[@]}" \
    -o "$out/test_iaemu"
gcc -std=c11 -Wall -Wextra -Werror -Iinclude bindings/layout.c "${link[@]}" -o "$out/layout"
"$out/layout" > "$out/layout.txt"

bash bindings/reference.sh "$lib" "$out/ref"
bash bindings/reference-expect.sh "$lib" "$out/ref"  # tables and expected correlations, same folder
# A small training dataset (24 points on a 60 Mpc/h box; about 2 s), kept between runs.
if [ ! -f "$out/train-data/params.npy" ]; then
    { "$lib/iaemu" halos synth --box 60 --grid 32 --out "$out/train-halos.npz" &&
      "$lib/iaemu" generate --design lhs --n 24 --realizations 1 --halos "$out/train-halos.npz" \
          --out "$out/train-data"; } > "$out/train-data.log" 2>&1 || { cat "$out/train-data.log" >&2; exit 1; }
fi

fail=0
# Failures without `status` stop the program with the library's message on stderr.
if "$out/test_abort" nan > "$out/abort-nan.out" 2> "$out/abort-nan.err"; then
    echo "FAIL: a NaN parameter without status did not stop the program"; fail=1
elif ! grep -q "mu_sat" "$out/abort-nan.err" || ! grep -q "status -1" "$out/abort-nan.err"; then
    echo "FAIL: stderr of the stopped program lacks the library's message:"; cat "$out/abort-nan.err"; fail=1
fi
if "$out/test_abort" copy > "$out/abort-copy.out" 2> "$out/abort-copy.err"; then
    echo "FAIL: copying a handle object was not refused"; fail=1
elif ! grep -q "assignment of type(ia_halos) refused" "$out/abort-copy.err"; then
    echo "FAIL: copy refusal message:"; cat "$out/abort-copy.err"; fail=1
fi
if grep -q "not reached" "$out"/abort-*.out; then echo "FAIL: a stopped program went on"; fail=1; fi

"$out/test_iaemu" "$out/ref" "$out/layout.txt" "$out/tmp" "$out/train-data" > "$out/test.txt" 2>&1 || fail=1
grep -v '^bindings/fortran: ' "$out/test.txt" || true
summary="$(tail -n 1 "$out/test.txt")"
case "$summary" in bindings/fortran:*" 0 failures") ;; *) echo "$summary"; fail=1 ;; esac

"$out/example" > "$out/example.txt"
grep -q "^simulated, point 0" "$out/example.txt" || { echo "FAIL: example output incomplete"; fail=1; }

# The README's blocks: its programs compiled against the module built above.
PATH="$libdir:$PATH" python3 bindings/snippets.py --out "$out/snippets" \
    --run fortran="gfortran -std=f2018 -Wall -Wextra -Werror -I'$root/$out/mod' {file} '$root/$out/iaemu.o' -L'$libdir' -liaemu -Wl,-rpath,'$libdir' -o {exe} && {exe}" \
    bindings/fortran/README.md || fail=1

if [ "$fail" -ne 0 ]; then
    echo "bindings/fortran: FAILED"
    exit 1
fi
echo "${summary%, 0 failures}; error stops without status, refused copy and example OK"

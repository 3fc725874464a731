#!/bin/bash
# The C binding's test, against the library as built by the project:
#   1. check.c calls every function family on the inputs of bindings/reference.sh and
#      bindings/reference-expect.sh (tables and expected correlations) and compares its numbers
#      with the Rust command line's (and the error paths: a NaN parameter, the memory budget, a
#      wrong-size output, a missing table);
#   2. example.c runs, and its printed emulator numbers are compared with `iaemu predict` (same
#      points, passes and seed) and its simulated ones with `iaemu simulate`;
#   3. the fenced blocks of bindings/c/README.md run as written (bindings/snippets.py; scratch
#      folder target/bindings-c/snippets).
# Usage: bash bindings/c/test.sh [LIBDIR] (default target/release). Needs python3 (standard
# library only).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
lib="${1:-target/release}"
mkdir -p target/bindings-c
bash bindings/reference.sh "$lib" target/bindings-c/ref
bash bindings/reference-expect.sh "$lib" target/bindings-c/ref  # tables and expected correlations, same folder
cc -std=c11 -Wall -Wextra -Werror -Iinclude bindings/c/check.c -L"$lib" -liaemu \
    -Wl,-rpath,"$root/$lib" -lm -o target/bindings-c/check
target/bindings-c/check target/bindings-c/ref
cc -std=c11 -Wall -Wextra -Werror -Iinclude bindings/c/example.c -L"$lib" -liaemu \
    -Wl,-rpath,"$root/$lib" -lm -o target/bindings-c/example
target/bindings-c/example > target/bindings-c/out.txt
"$lib/iaemu" predict --params 0.8,0.8,12.02,0.26,11.38,13.31,1.06 --params 0.3,-0.2,12.5,0.4,12.0,13.6,1.0 \
    --mc 20 --seed 42 --out target/bindings-c/predict.json 2>/dev/null
"$lib/iaemu" simulate --params 0.8,0.8,12.02,0.26,11.38,13.31,1.06 --realizations 2 --seed 1 \
    --out target/bindings-c/simulate.json 2>/dev/null
python3 - <<'PY'
import json, math
text = open("target/bindings-c/out.txt").read().split("\n")
pred = json.load(open("target/bindings-c/predict.json"))
sim = json.load(open("target/bindings-c/simulate.json"))
def rows(start):
    i = text.index(start) + 2
    return [list(map(float, l.split())) for l in text[i:i + 20]]
def close(a, b):  # the example prints 5-6 significant digits
    return abs(a - b) <= 2e-5 * abs(b) + 1e-12
n = 0
for p in range(2):
    for b, row in enumerate(rows(f"point {p} (domain flags 0)")):
        # r_mid: the arithmetic mean of the bin's edges, as the command line writes it
        assert abs(row[0] - pred["r_mid"][b]) <= 1e-4, ("r_mid", b, row[0], pred["r_mid"][b])
        n += 1
        for s, name in enumerate(("xi", "omega", "eta")):
            m, ale, epi = row[1 + 3 * s: 4 + 3 * s]
            assert close(m, pred[name][p][b]), (p, name, b, m, pred[name][p][b])
            assert abs(ale - math.sqrt(pred[name + "_aleatoric_var"][p][b])) <= 2e-3 * ale
            assert abs(epi - math.sqrt(pred[name + "_epistemic_var"][p][b])) <= 2e-3 * epi
            n += 3
text_sim = text[text.index("simulated, point 0"):]
for b, row in enumerate([list(map(float, l.split())) for l in text_sim[2:22]]):
    for s, name in enumerate(("xi", "omega", "eta")):
        assert close(row[1 + s], sim[name][b]), (name, b, row[1 + s], sim[name][b])
        n += 1
print(f"bindings/c: example output matches the Rust command line ({n} numbers)")
PY
case "$lib" in /*) libabs="$lib" ;; *) libabs="$root/$lib" ;; esac
python3 bindings/snippets.py --out target/bindings-c/snippets \
    --run c="cc -std=c11 -Wall -Wextra -Werror -I'$root/include' {file} -L'$libabs' -liaemu -Wl,-rpath,'$libabs' -lm -o {exe} && {exe}" \
    bindings/c/README.md

#!/bin/bash
# Runs every binding's test against the library in LIBDIR (default target/release), timing each.
# Each compares its numbers with bindings/reference.sh (the same inputs through `iaemu`).
#   bash bindings/setup.sh && bash bindings/test.sh [LIBDIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
lib="${1:-target/release}"
summary=""
# This README's blocks (each binding's test runs those of its own README).
python3 bindings/snippets.py --out target/bindings-snippets bindings/README.md
for lang in c cpp fortran julia python; do
    printf '\n-- bindings/%s\n' "$lang"
    start=$(date +%s)
    bash "bindings/$lang/test.sh" "$lib"
    summary+=$(printf '\n  %-8s %4d s' "$lang" $(( $(date +%s) - start )))
done
echo
echo "bindings: all tests passed; wall time per binding:$summary"

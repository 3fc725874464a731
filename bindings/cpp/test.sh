#!/bin/bash
# The C++ binding's test: writes the Rust reference (bindings/reference.sh and, for tables and
# expected correlations, bindings/reference-expect.sh), a small training
# dataset (`iaemu generate`, 48 points, about 2 s), builds test.cpp and example.cpp with
# g++ -std=c++17 -Wall -Wextra -Werror -pedantic (and -std=c++20, which exercises the std::span
# inputs, when g++ supports it), runs the tests against the library and the example, then the
# fenced blocks of bindings/cpp/README.md as written (bindings/snippets.py).
#   bash bindings/cpp/test.sh [LIBDIR]      (default target/release; outputs in target/bindings-cpp)
# Needs g++ and python3 (standard library only, for reference.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
lib="${1:-target/release}"
case "$lib" in
    /*) libabs="$lib" ;;
    *) libabs="$root/$lib" ;;
esac
out=target/bindings-cpp
mkdir -p "$out"
CXX="${CXX:-g++}"
flags=(-Wall -Wextra -Werror -pedantic -O1 -Iinclude -Ibindings/cpp)
link=(-L"$libabs" -liaemu -Wl,-rpath,"$libabs")

bash bindings/reference.sh "$lib" "$out/ref"
bash bindings/reference-expect.sh "$lib" "$out/ref"  # tables and expected correlations, same folder
rm -rf "$out/data"
"$lib/iaemu" generate --design lhs --n 48 --realizations 2 --halos "$out/ref/halos.hdf5" --out "$out/data" \
    >"$out/generate.log" 2>&1 || { cat "$out/generate.log" >&2; exit 1; }

stds=(17)
if echo 'int main() { return 0; }' | "$CXX" -std=c++20 -x c++ - -o /dev/null 2>/dev/null; then
    stds+=(20)
else
    echo "bindings/cpp: $CXX does not support -std=c++20; the std::span inputs are not tested"
fi
for std in "${stds[@]}"; do
    "$CXX" -std=c++$std "${flags[@]}" bindings/cpp/test.cpp "${link[@]}" -o "$out/test$std"
    "$CXX" -std=c++$std "${flags[@]}" bindings/cpp/example.cpp "${link[@]}" -o "$out/example$std"
done

summary=""
for std in "${stds[@]}"; do
    echo "-- C++$std"
    mkdir -p "$out/work$std"
    "$out/test$std" "$out/ref" "$out/data" "$out/work$std" | tee "$out/test$std.txt"
    summary+="$(grep -o '^bindings/cpp: [0-9]* numbers' "$out/test$std.txt" | grep -o '[0-9]*') "
done
"$out/example${stds[0]}" > "$out/example.txt"
grep -q '^as expected: ia_predict_batch: out of domain' "$out/example.txt"
grep -q '^simulated, point 0' "$out/example.txt"
python3 bindings/snippets.py --out "$out/snippets" \
    --run cpp="$CXX -std=c++17 -Wall -Wextra -Werror -I'$root/include' -I'$root/bindings/cpp' {file} -L'$libabs' -liaemu -Wl,-rpath,'$libabs' -o {exe} && {exe}" \
    bindings/cpp/README.md
echo "bindings/cpp: all tests passed (C++${stds[*]}); numbers checked against the Rust command line per build: $summary"

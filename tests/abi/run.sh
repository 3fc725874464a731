#!/bin/bash
# Hostile-argument / property test of the iaemu C ABI (tests/abi/hostile.c), see tests/abi/README.md.
#   bash tests/abi/run.sh [LIBDIR]      (LIBDIR default target/release, the full LibTorch build)
# (a) hostile.c built with ASan + UBSan, run against LIBDIR;
# (b) hostile.c built without sanitizers, run under valgrind memcheck against target/lite/release
#     and, with fewer cases and no emulator cases, against LIBDIR.
#     Under valgrind the expect family builds its one fixed table only (IAEMU_ABI_TABLE_BUILDS=0:
#     the fixed cost of a build, ~0.5 s natively, is ~35 s there).
# Env: ASAN_CASES (default 600), VG_LITE_CASES (40), VG_FULL_CASES (10; 0 skips the run),
#      IAEMU_ABI_SEED, IAEMU_ABI_SKIP_HUGE_THREADS=1. Outputs under target/abi/.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
lib="${1:-target/release}"
lite=target/lite/release
out=target/abi
mkdir -p "$out/tmp"
export IAEMU_ABI_TMP="$out/tmp"
fail=0
t0=$SECONDS

# (a) ASan + UBSan. ASan instruments the harness and intercepts malloc/free/memcpy for the whole
# process; the Rust code itself is not instrumented. LibTorch needs detect_leaks=0 (LeakSanitizer
# reports its static allocations) and ASan must come first in the link, which gcc does itself.
gcc -std=gnu11 -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
    -Wall -Wextra -Werror -Iinclude tests/abi/hostile.c -L"$lib" -liaemu -Wl,-rpath,"$root/$lib" \
    -lpthread -lm -o "$out/hostile-asan" || exit 1
echo "== (a) ASan+UBSan against $lib"
ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:halt_on_error=1:allocator_may_return_null=1:detect_odr_violation=0:handle_segv=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$out/hostile-asan" "${ASAN_CASES:-600}" 2>&1 | tee "$out/asan.log" | grep -v '^note:'
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "FAILED: ASan run (log $out/asan.log)"; fail=1; }
echo "   ($((SECONDS - t0)) s so far)"

# (b) valgrind memcheck on an uninstrumented build.
gcc -std=gnu11 -g -O1 -Wall -Wextra -Werror -Iinclude tests/abi/hostile.c -L"$lite" -liaemu \
    -Wl,-rpath,"$root/$lite" -lpthread -lm -o "$out/hostile-lite" || exit 1
echo "== (b) valgrind against $lite"
# (the huge-thread-count child has 5 s, too little under valgrind: the ASan run covers it)
IAEMU_ABI_SKIP_HUGE_THREADS=1 IAEMU_ABI_TABLE_BUILDS=0 valgrind -q --error-exitcode=1 --track-origins=no \
    --suppressions=tests/abi/valgrind.supp --log-file="$out/valgrind-lite.vg" \
    "$out/hostile-lite" "${VG_LITE_CASES:-40}" > "$out/valgrind-lite.log" 2>&1
rc=$?
grep -v '^note:' "$out/valgrind-lite.log"; cat "$out/valgrind-lite.vg"
[ $rc -eq 0 ] || { echo "FAILED: valgrind lite run (rc $rc, logs $out/valgrind-lite.*)"; fail=1; }
echo "   ($((SECONDS - t0)) s so far)"

if [ "${VG_FULL_CASES:-10}" != 0 ]; then
    gcc -std=gnu11 -g -O1 -Wall -Wextra -Werror -Iinclude tests/abi/hostile.c -L"$lib" -liaemu \
        -Wl,-rpath,"$root/$lib" -lpthread -lm -o "$out/hostile-full" || exit 1
    echo "== (b') valgrind against $lib (emulator loaded for the hostile cases, no random emulator cases)"
    IAEMU_ABI_SKIP_HUGE_THREADS=1 IAEMU_ABI_EMU_CASES=0 IAEMU_ABI_TABLE_BUILDS=0 valgrind -q --error-exitcode=1 --track-origins=no \
        --suppressions=tests/abi/valgrind.supp --log-file="$out/valgrind-full.vg" \
        "$out/hostile-full" "${VG_FULL_CASES:-10}" > "$out/valgrind-full.log" 2>&1
    rc=$?
    grep -v '^note:' "$out/valgrind-full.log"; cat "$out/valgrind-full.vg"
    [ $rc -eq 0 ] || { echo "FAILED: valgrind full run (rc $rc, logs $out/valgrind-full.*)"; fail=1; }
fi
echo "tests/abi: $((SECONDS - t0)) s, $([ $fail = 0 ] && echo passed || echo FAILED)"
exit $fail

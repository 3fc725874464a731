# Limits the instruction set that iaemu and LibTorch use, so that a developer on one CPU sees
# what another kind of CPU computes (an AVX-512 machine running as an AVX2-only one, say).
#
#   source scripts/isa-env.sh avx2           # then run tests or commands in this shell
#   bash scripts/isa-env.sh --check avx2     # checks that this LibTorch honours the limit
#
# Instruction sets: baseline (SSE2 for iaemu; LibTorch's default ATen kernels, MKL and oneDNN on
# SSE4.2), avx2 (AVX2 and FMA), avx512. What each variable does:
#   IAEMU_ISA               iaemu's correlation kernels (src/corr/kernel.rs); an error names the
#                           choices when the value is unknown or the CPU lacks it
#   ATEN_CPU_CAPABILITY     LibTorch's ATen CPU kernels (default, avx2, avx512)
#   MKL_ENABLE_INSTRUCTIONS Intel MKL, which LibTorch's CPU matrix products call (SSE4_2, AVX2,
#                           AVX512)
#   ONEDNN_MAX_CPU_ISA      oneDNN, which LibTorch's CPU convolutions may call (SSE41, AVX2,
#                           AVX512_CORE)
# All three LibTorch variables are read by the libraries of the torch 2.13 wheel themselves, so
# they act in the iaemu command line and library as in Python; --check verifies each.

_iaemu_isa_set() {
    case "$1" in
        baseline) export IAEMU_ISA=baseline ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2 ONEDNN_MAX_CPU_ISA=SSE41 ;;
        avx2) export IAEMU_ISA=avx2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 ;;
        avx512) export IAEMU_ISA=avx512 ATEN_CPU_CAPABILITY=avx512 MKL_ENABLE_INSTRUCTIONS=AVX512 ONEDNN_MAX_CPU_ISA=AVX512_CORE ;;
        *) echo "isa-env: unknown instruction set '$1': choose baseline, avx2 or avx512" >&2; return 2 ;;
    esac
    echo "isa-env: IAEMU_ISA=$IAEMU_ISA ATEN_CPU_CAPABILITY=$ATEN_CPU_CAPABILITY MKL_ENABLE_INSTRUCTIONS=$MKL_ENABLE_INSTRUCTIONS ONEDNN_MAX_CPU_ISA=$ONEDNN_MAX_CPU_ISA"
}

# Runs a small matrix product and convolution in the wheel's Python and the iaemu command line,
# with MKL's and oneDNN's verbose output on, and compares what they report with the limit.
_iaemu_isa_check() {
    local root aten mkl onednn iaemu_mkl want_aten want_mkl want_onednn
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    _iaemu_isa_set "$1" >/dev/null || return 2
    case "$1" in
        baseline) want_aten=DEFAULT want_mkl="SSE4_2|SSE4.2" want_onednn="SSE4.1" ;;
        avx2) want_aten=AVX2 want_mkl="AVX2" want_onednn="isa:Intel AVX2$" ;;
        avx512) want_aten=AVX512 want_mkl="AVX-512" want_onednn="AVX-512|AVX512" ;;
    esac
    local py="$root/.venv/bin/python"
    if [ ! -x "$py" ]; then
        echo "isa-env --check: no $py (scripts/setup.sh makes it): cannot check LibTorch" >&2
        return 1
    fi
    local out
    out=$(MKL_VERBOSE=1 ONEDNN_VERBOSE=1 "$py" -c '
import torch
print("ATEN", torch.backends.cpu.get_cpu_capability())
a = torch.randn(64, 300); b = torch.randn(300, 200); (a @ b).sum()
torch.nn.Conv1d(20, 20, 3)(torch.randn(8, 20, 10)).sum()
' 2>&1) || { echo "$out" >&2; return 1; }
    aten=$(echo "$out" | sed -n 's/^ATEN //p')
    mkl=$(echo "$out" | grep -m1 '^MKL_VERBOSE oneMKL' || true)
    onednn=$(echo "$out" | grep -m1 'onednn_verbose.*info,cpu,isa:' | sed 's/.*isa:/isa:/' || true)
    local bad=0
    # MKL names its code path only on Intel CPUs; on others (AMD EPYC, say) it reports the
    # generic "Intel(R) Architecture processors" whatever the limit, so the limit cannot be
    # seen there: say so rather than fail.
    local vendor
    vendor=$(grep -m1 '^vendor_id' /proc/cpuinfo 2>/dev/null | sed 's/.*: *//')
    _mkl_ok() {  # $1: MKL's verbose line, $2: where it came from
        if echo "$1" | grep -Eq "$want_mkl"; then
            return 0
        elif [ "$vendor" != GenuineIntel ] && echo "$1" | grep -q "Intel(R) Architecture processors"; then
            echo "  MKL ($2) does not name its code path on this ${vendor:-unknown} CPU: its limit is set, not checked"
            return 0
        fi
        echo "  MKL_ENABLE_INSTRUCTIONS not honoured $2: want $want_mkl" >&2
        return 1
    }
    echo "isa-env --check $1:"
    echo "  ATen CPU capability: $aten"
    [ "$aten" = "$want_aten" ] || { echo "  ATEN_CPU_CAPABILITY not honoured: want $want_aten" >&2; bad=1; }
    echo "  MKL (Python): ${mkl#MKL_VERBOSE }"
    _mkl_ok "$mkl" "in Python" || bad=1
    echo "  oneDNN (Python): $onednn"
    echo "$onednn" | grep -Eq "$want_onednn" || { echo "  ONEDNN_MAX_CPU_ISA not honoured: want $want_onednn" >&2; bad=1; }
    if [ -x "$root/target/release/iaemu" ]; then
        iaemu_mkl=$(MKL_VERBOSE=1 "$root/target/release/iaemu" predict --mc 1 \
            --params 0.8,0.8,12,0.26,11.4,13.3,1.06 2>&1 | grep -m1 '^MKL_VERBOSE oneMKL' || true)
        echo "  MKL (iaemu predict): ${iaemu_mkl#MKL_VERBOSE }"
        _mkl_ok "$iaemu_mkl" "by iaemu" || bad=1
    fi
    return $bad
}

if [ "${1:-}" = "--check" ]; then
    _iaemu_isa_check "${2:?isa-env --check: give baseline, avx2 or avx512}"
    rc=$?
    (return 0 2>/dev/null) && return $rc || exit $rc
else
    _iaemu_isa_set "${1:?isa-env: give baseline, avx2 or avx512}"
fi

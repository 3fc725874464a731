#!/usr/bin/env bash
# Create (or update) .venv-peers in the repository root: a separate Python virtual
# environment holding the peer codes iaemu is checked against (halotools 0.9.4,
# Corrfunc 2.5.3), pinned by tests/peers/requirements.txt.
#
# Idempotent: a second run with unchanged pins only verifies the environment.
# Installs missing Debian build packages with apt-get (only if `dpkg -s` says they
# are missing; `apt-get update` only when something must be installed).
#
# Usage: scripts/peer-venv.sh            (uses python3 from PATH)
#        PEER_PYTHON=/path/to/python3.11 scripts/peer-venv.sh
#        PEER_VENV_FORCE=1 scripts/peer-venv.sh   (re-run pip even if up to date)
#
# A fresh build compiles halotools (Cython, ~5 min on 2 cores) and Corrfunc (C, ~1.5 min).
set -Eeuo pipefail

START=$(date +%s)
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$REPO_ROOT/.venv-peers"
REQ="$REPO_ROOT/tests/peers/requirements.txt"
PYTHON="${PEER_PYTHON:-python3}"
STAMP="$VENV/.peer-requirements.stamp"
LOG_DIR="$VENV/.logs"

say()  { echo "peer-venv: $*"; }
fail() {
    echo "peer-venv: ERROR: $*" >&2
    echo "peer-venv: the peer environment ($VENV) is NOT ready." >&2
    exit 1
}
trap 'rc=$?; echo "peer-venv: ERROR: command failed (exit $rc) at line $LINENO: $BASH_COMMAND" >&2; echo "peer-venv: the peer environment ($VENV) is NOT ready." >&2; exit $rc' ERR

[[ -f "$REQ" ]] || fail "pinned requirements not found: $REQ"

# ---------------------------------------------------------------- the interpreter
command -v "$PYTHON" >/dev/null 2>&1 || fail "python interpreter '$PYTHON' not found (set PEER_PYTHON)"
# resolve wrappers (e.g. pyenv shims) to the real interpreter
PYTHON=$("$PYTHON" -c 'import sys; print(sys.executable)') || fail "cannot run $PYTHON"
PY_VER=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])') \
    || fail "cannot run $PYTHON"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || fail "halotools 0.9.4 needs Python >= 3.11; $PYTHON is $PY_VER (set PEER_PYTHON)"
PY_INC=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
say "python: $PYTHON ($PY_VER)"

# ---------------------------------------------------------------- system packages
# gcc/g++/make/libc6-dev: C and C++ extensions of halotools and Corrfunc;
# libgsl-dev: Corrfunc (its Makefile calls gsl-config).
NEED_PKGS=(gcc g++ make libc6-dev libgsl-dev)
PY_IS_DEBIAN=0
case "$PYTHON" in
    /usr/bin/python3*) PY_IS_DEBIAN=1 ;;
esac
if [[ $PY_IS_DEBIAN == 1 ]]; then
    # Debian's own interpreter keeps Python.h and ensurepip (venv) in separate packages.
    NEED_PKGS+=("python${PY_VER}-dev" "python${PY_VER}-venv")
fi

if command -v dpkg >/dev/null 2>&1; then
    MISSING=()
    for p in "${NEED_PKGS[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || MISSING+=("$p")
    done
    if ((${#MISSING[@]})); then
        say "installing missing Debian packages: ${MISSING[*]}"
        SUDO=()
        if [[ $(id -u) != 0 ]]; then
            command -v sudo >/dev/null 2>&1 \
                || fail "need root (or sudo) to install: ${MISSING[*]} -- install them and re-run"
            SUDO=(sudo)
        fi
        command -v apt-get >/dev/null 2>&1 || fail "apt-get not found; install: ${MISSING[*]}"
        "${SUDO[@]}" apt-get update -qq \
            || fail "apt-get update failed (no network to the Debian mirror?)"
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "${MISSING[@]}" \
            || fail "apt-get install ${MISSING[*]} failed"
    else
        say "Debian packages present: ${NEED_PKGS[*]}"
    fi
else
    say "dpkg not found (not Debian?): checking build tools by command only"
fi
for c in gcc g++ make gsl-config; do
    command -v "$c" >/dev/null 2>&1 \
        || fail "'$c' not found: install a C/C++ compiler, make and GSL development files (Debian: libgsl-dev)"
done
[[ -f "$PY_INC/Python.h" ]] \
    || fail "Python.h not found in $PY_INC: install the development headers of $PYTHON (Debian: python${PY_VER}-dev)"

# ---------------------------------------------------------------- the venv
REQ_HASH=$( { sha256sum "$REQ" | cut -d' ' -f1; echo "$PYTHON $PY_VER"; } | sha256sum | cut -d' ' -f1)

venv_ok() {
    [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1 \
        && [[ "$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" == "$PY_VER" ]]
}

check_imports() {
    # run outside the repo so nothing local shadows the installed packages
    (cd / && "$VENV/bin/python" - <<'PY'
import numpy, halotools, Corrfunc, tabcorr
from halotools.mock_observables import tpcf, ed_3d, ee_3d, npairs_3d
from Corrfunc.theory import DD
assert halotools.__version__.startswith("0.9.4"), halotools.__version__
assert Corrfunc.__version__ == "2.5.3", Corrfunc.__version__
print("peer-venv: ok: numpy %s, halotools %s, Corrfunc %s"
      % (numpy.__version__, halotools.__version__, Corrfunc.__version__))
PY
    )
}

if ! venv_ok; then
    if [[ -e "$VENV" ]]; then
        say "existing $VENV is unusable or for another Python: recreating it"
    fi
    "$PYTHON" -m venv --clear "$VENV" \
        || fail "'$PYTHON -m venv' failed (Debian's python needs python${PY_VER}-venv)"
fi

if [[ "${PEER_VENV_FORCE:-0}" != 1 && -f "$STAMP" && "$(cat "$STAMP")" == "$REQ_HASH" ]] \
        && check_imports 2>/dev/null; then
    say "already up to date ($VENV); took $(( $(date +%s) - START )) s"
    exit 0
fi
rm -f "$STAMP"
mkdir -p "$LOG_DIR"

PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
export PIP_PREFER_BINARY=1
# Corrfunc's Makefiles are not safe under parallel make (generated headers race).
unset MAKEFLAGS MFLAGS MAKELEVEL

say "step 1/2: build-time packages (numpy, Cython, setuptools, ...) -> $LOG_DIR/pip-build-deps.log"
"${PIP[@]}" install -c "$REQ" \
        numpy Cython setuptools setuptools-scm vcs-versioning packaging wheel extension-helpers \
        >"$LOG_DIR/pip-build-deps.log" 2>&1 \
    || { tail -n 30 "$LOG_DIR/pip-build-deps.log" >&2; fail "pip could not install the build-time packages (see $LOG_DIR/pip-build-deps.log)"; }

say "step 2/2: halotools + Corrfunc (compiled from source; several minutes) -> $LOG_DIR/pip-peers.log"
"${PIP[@]}" install --no-build-isolation -r "$REQ" \
        >"$LOG_DIR/pip-peers.log" 2>&1 \
    || { tail -n 40 "$LOG_DIR/pip-peers.log" >&2; fail "pip could not build/install the peers (see $LOG_DIR/pip-peers.log)"; }

check_imports || fail "installed, but importing halotools/Corrfunc failed"
echo "$REQ_HASH" >"$STAMP"
say "done: $VENV ready in $(( $(date +%s) - START )) s"

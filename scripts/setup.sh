#!/usr/bin/env bash
# Sets up a new machine for iaemu and builds it: the PyTorch 2.13.0 wheel (LibTorch for tch)
# in .venv inside the project, unless LIBTORCH is set; then the release build of the library
# and the command line. Idempotent: a second run only rebuilds what changed.
#   bash scripts/setup.sh          # full build (emulator, needs LibTorch)
#   bash scripts/setup.sh --lite   # no LibTorch: library and command line in target/lite/release
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$IAEMU_ROOT"

lite=0
[ "${1:-}" = "--lite" ] && lite=1

need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: '$1' is required but not found ($2)" >&2; exit 1; }; }
need cargo "install Rust from https://rustup.rs"
need cc "install a C compiler, e.g. apt-get install gcc"

# HDF5 (halotools cache files): the C library and its headers, from Debian's packages.
if ! { [ -e /usr/include/hdf5/serial/hdf5.h ] || [ -e /usr/include/hdf5.h ] || [ -n "${HDF5_DIR:-}" ]; }; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "setup: installing libhdf5-dev (apt)"
        apt-get install -y -q libhdf5-dev pkg-config >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q libhdf5-dev pkg-config >/dev/null; }
    else
        echo "setup: the HDF5 library is required: apt-get install libhdf5-dev (or set HDF5_DIR)" >&2
        exit 1
    fi
fi

# A TrueType font for plot text (iaemu simulate --plot); any of these will do.
font_found=0
for f in /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf /usr/share/fonts/TTF/DejaVuSans.ttf \
         /usr/share/fonts/dejavu/DejaVuSans.ttf /usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf \
         "${IAEMU_FONT:-}"; do
    [ -n "$f" ] && [ -e "$f" ] && font_found=1
done
if [ "$font_found" = 0 ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "setup: installing fonts-dejavu-core (apt) for plot text"
        apt-get install -y -q fonts-dejavu-core >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q fonts-dejavu-core >/dev/null; }
    else
        echo "setup: no DejaVu or Liberation font found: plots need IAEMU_FONT=/path/to/font.ttf"
    fi
fi

if [ "$lite" = 0 ] && [ -z "${LIBTORCH:-}" ]; then
    need python3 "Python 3.9+ provides the PyTorch wheel that carries LibTorch"
    torch_ok() { .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; }
    if ! torch_ok; then
        echo "setup: installing torch==$TORCH_VERSION into .venv (about 4.7 GB, a minute or two)"
        python3 -m venv .venv
        .venv/bin/python -m pip install --quiet --upgrade pip
        .venv/bin/python -m pip install --quiet "torch==$TORCH_VERSION" numpy
        if ! torch_ok; then
            # A broken earlier install (interrupted, files missing) looks "satisfied" to pip.
            echo "setup: torch in .venv does not import; reinstalling it"
            .venv/bin/python -m pip install --quiet --force-reinstall "torch==$TORCH_VERSION" numpy
            torch_ok || { .venv/bin/python -c "import torch"; echo "setup: torch==$TORCH_VERSION in .venv does not import (see above)" >&2; exit 1; }
        fi
    fi
fi

if [ "$lite" = 1 ]; then
    cargo build --release --locked --no-default-features --target-dir target/lite
    echo "setup: built target/lite/release/iaemu and libiaemu.so (no LibTorch)"
else
    cargo build --release --locked
    echo "setup: built target/release/iaemu and libiaemu.so"
fi

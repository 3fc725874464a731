#!/usr/bin/env bash
# Sets up everything (scripts/setup.sh), then runs the main job: makes a clustered, aligned
# sample catalogue and prints its xi, omega and eta with jackknife errors. Extra arguments go
# to `iaemu demo` (see `target/release/iaemu demo --help`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$IAEMU_ROOT"
bash scripts/setup.sh
target/release/iaemu demo --jackknife 3 "$@"

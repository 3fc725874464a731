#!/usr/bin/env bash
# Sets up everything (scripts/setup.sh), then runs the main job until the emulator exists:
# simulates the -20 magnitude point of Zheng et al. (2007) Table 1 with mu_cen = mu_sat = 0.8
# on the default synthetic universe, 10 realisations, and prints xi, omega and eta with their
# realisation-to-realisation standard deviations, and draws them with error bars into
# target/demo.png. Extra arguments go to `iaemu simulate` (see
# `target/release/iaemu simulate --help`), e.g. `--out result.json`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$IAEMU_ROOT"
bash scripts/setup.sh
target/release/iaemu simulate --params 0.8,0.8,12.02,0.26,11.38,13.31,1.06 --realizations 10 --plot target/demo.png "$@"

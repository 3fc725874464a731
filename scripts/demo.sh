#!/usr/bin/env bash
# Sets up everything (scripts/setup.sh), then runs the main job: the built-in emulator predicts
# xi, omega and eta with aleatoric and epistemic (20 Monte Carlo dropout passes) uncertainties
# for the -20 magnitude point of Zheng et al. (2007) Table 1 with mu_cen = mu_sat = 0.8, prints
# the table and draws the curves into target/demo.png. Extra arguments go to `iaemu predict`
# (see `target/release/iaemu predict --help`), e.g. `--out result.json`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$IAEMU_ROOT"
bash scripts/setup.sh
target/release/iaemu predict --params 0.8,0.8,12.02,0.26,11.38,13.31,1.06 --mc 20 --plot target/demo.png "$@"

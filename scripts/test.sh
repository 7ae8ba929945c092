#!/usr/bin/env bash
# Brings one line's build up to date and runs every test: GoogleTest, the
# install-tree and out-of-tree example fixtures, the model zoo and lit. The line
# is TSOPT_TORCH's (pip, the default, or debian; see scripts/build.sh). Extra
# arguments go to ctest (e.g. -R lit).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/torch_line.sh
scripts/build.sh
ctest --test-dir "$TSOPT_BUILD_DIR" --output-on-failure "$@"

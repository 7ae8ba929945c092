#!/usr/bin/env bash
# Brings build/ up to date and runs every test: GoogleTest, the install-tree and
# out-of-tree example fixtures, and lit. Extra arguments go to ctest (e.g. -R lit).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
ctest --test-dir "${TSOPT_BUILD_DIR:-build}" --output-on-failure "$@"

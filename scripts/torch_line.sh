# Sourced by the scripts: picks the LibTorch line and its build directory.
#   TSOPT_TORCH=pip (default)  PyTorch 2.x from PyPI in .venv/, built into build/
#   TSOPT_TORCH=debian         Debian's libtorch-dev 1.13, built into build-debian/
# TSOPT_BUILD_DIR overrides the build directory.
TSOPT_TORCH=${TSOPT_TORCH:-pip}
case "$TSOPT_TORCH" in
  pip) default_build_dir=build ;;
  debian) default_build_dir=build-debian ;;
  *) echo "$(basename "$0"): TSOPT_TORCH=$TSOPT_TORCH: expected 'pip' or 'debian'" >&2; exit 2 ;;
esac
TSOPT_BUILD_DIR=${TSOPT_BUILD_DIR:-$default_build_dir}
export TSOPT_TORCH TSOPT_BUILD_DIR

#!/bin/sh
# Install the llama.cpp archive $AUTO_INFER_LLAMA_CPP_PKG_PATH (or the one given as first argument)
# into $INFER_ENTRY_ROOT/llama-cpp; the install also links get-llama-cpp-pkg.sh here.
# Other options pass through: --force, --json.
set -eu
if [ "$#" -ge 1 ] && [ "${1#-}" = "$1" ]; then
  pkg=$1
  shift
  exec infer-entry install --pkg "$pkg" "$@"
fi
exec infer-entry install "$@"

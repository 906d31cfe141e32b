#!/bin/sh
# Start the llama-server instances of $AUTO_INFER_LLAMA_CPP_CONFIG (or of --config FILE; names
# select instances): through the running daemon when the container booted with infer-entry (prints
# their states once ready), otherwise supervised in the foreground until Ctrl-C.
# As before, without a config there is nothing to do: exit 0.
set -eu
if [ "$#" -eq 0 ] && [ -z "${AUTO_INFER_LLAMA_CPP_CONFIG:-}" ]; then
  echo "check-and-run-llama-cpp: AUTO_INFER_LLAMA_CPP_CONFIG is not set; nothing to start (or pass --config FILE)" >&2
  exit 0
fi
exec infer-entry check-and-run "$@"

#!/bin/sh
# The infer-dev entry, kept for images and scripts that call it by name.
# It used to: install the llama.cpp archive (AUTO_INFER_LLAMA_CPP_GET_PKG_ON_BOOT), start the
# config's instances (AUTO_INFER_LLAMA_CPP_ON_BOOT), then `exec "$@"`, or bash without arguments.
# `infer-entry boot` does the same steps, and keeps supervising the instances while the command runs
# (it exits with the command's status).
set -eu
if [ "$#" -eq 0 ]; then
  set -- /bin/bash
fi
exec infer-entry boot -- "$@"

#!/usr/bin/env bash
# Prints the path of the release build of logtally, wherever cargo puts its target directory
# (`CARGO_TARGET_DIR`, a cargo config, or `target/` by default). Build it first with
# `cargo build --release`.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
binary="$target_dir/release/logtally"
if [[ ! -x "$binary" ]]; then
  echo "no release build at $binary: run cargo build --release" >&2
  exit 1
fi
echo "$binary"

#!/usr/bin/env bash
# Runs every test of the workspace from a clean checkout. This is the command README.md gives and
# the one CI (.ci/run) calls. It installs what the tests need first.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: none are needed yet (later tiers add LLVM here).

if cargo fmt --version >/dev/null 2>&1; then
    cargo fmt --all --check
fi
cargo build --workspace --all-targets --locked
cargo test --workspace --locked

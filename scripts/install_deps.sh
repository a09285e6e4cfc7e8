#!/usr/bin/env bash
# Installs the Debian 12 packages that irnn needs to build, test and benchmark, with apt-get (directly as
# root, else through sudo). Idempotent: when every package is already installed it changes nothing and
# returns at once, without apt-get update. Used by scripts/test.sh and scripts/main.sh.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

packages=(
  build-essential     # g++, make
  cmake
  ccache              # CMake uses it when found
  binutils            # objdump, for tests/no_float_test.sh
  googletest libgtest-dev libgmock-dev
  libbenchmark-dev    # Google Benchmark
  libcli11-dev        # the irnn command-line tool
  nlohmann-json3-dev  # golden vectors in the tests
  libgemmlowp-dev     # gemmlowp fixedpoint.h: an independent oracle in the tests (not linked)
  gnuplot-nox         # irnn pwl --plot, training curves
  libtorch-dev        # training (src/train): float, QAT, PTQ, the integer simulation
  libopenblas0-pthread  # a fast BLAS for libtorch (Debian's default reference BLAS is ~6x slower)
  libdnnl-dev         # oneDNN 2.x: a peer of irnn bench (optional: without it the peer is reported as skipped)
  bible-kjv           # the main command's data: 'bible' prints the King James Bible (bible-kjv-text)
  git ca-certificates
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install_deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install_deps: installing ${missing[*]}"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_deps: error: apt-get not found (this script is for Debian 12); install by hand: ${missing[*]}" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo env DEBIAN_FRONTEND=noninteractive)
else
  echo "install_deps: error: not root and sudo is not installed; run as root or install: ${missing[*]}" >&2
  exit 1
fi
"${as_root[@]}" apt-get update
"${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
echo "install_deps: done"

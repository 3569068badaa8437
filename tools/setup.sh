#!/usr/bin/env bash
# Installs what gasa needs on Debian (as root, or with sudo) when it is missing, then builds.
# Usage: bash tools/setup.sh [debug|release] [browser] [mpi]   (default: release; "browser" adds Chromium
# and a Korean font for the browser test of gasa serve's page; "mpi" adds Open MPI's mpirun, for training
# over several processes and its tests: gasa loads Open MPI only under mpirun, so neither the build nor a
# plain gasa train needs it)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libicu-dev libdnnl-dev zlib1g-dev pkg-config)
for extra in "${@:2}"; do
    case "$extra" in
        browser) packages+=(chromium fonts-nanum python3) ;;
        mpi) packages+=(openmpi-bin) ;;
        *) echo "setup.sh: unknown extra '$extra' (browser or mpi)" >&2; exit 2 ;;
    esac
done
need=()
for pkg in "${packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "swift is not on PATH: install the Swift toolchain (swift.org) first" >&2; exit 1; }

config="${1:-release}"
if [ "$config" = release ]; then
    # The Swift runtime and Foundation linked in: a binary that runs without the toolchain's libraries
    # (system ICU, oneDNN and zlib stay shared) and starts faster (prepare about 12% faster here).
    swift build -c release --static-swift-stdlib
else
    swift build --build-tests
fi

#!/usr/bin/env bash
# Installs what PEFT Workbench needs from Debian's packages (Debian 12). Idempotent: when everything is
# present it only runs dpkg-query and returns. Runs apt-get as root, or through sudo.
set -euo pipefail

packages=(
    build-essential cmake ninja-build ccache pkg-config clang-format clang libclang-rt-14-dev
    qt6-base-dev qt6-svg-dev libqt6svg6 libgl-dev libqcustomplot-dev libqcustomplot2.1-qt6
    libtorch-dev libopenblas0-pthread
    libsqlite3-dev nlohmann-json3-dev libutf8proc-dev libre2-dev libssl-dev libsentencepiece-dev
    xvfb xauth
    slurmctld slurmd slurm-client munge
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all ${#packages[@]} packages present"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "setup: need root or sudo to install: ${missing[*]}" >&2
        exit 1
    fi
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"

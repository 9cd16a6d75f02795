#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The Debian 12 packages scripts/device-check.sh unpacks (dpkg -x) on a GPU machine that has PyTorch but not
# the workbench's other dependencies: the -dev packages of core + CLI, and Qt 6 + QCustomPlot for the whole
# application (with the GL/EGL/Vulkan headers Qt's CMake package asks for). About 30 MB.
# Usage: scripts/fetch-device-debs.sh [DIR]   (default .devdeps; run on a Debian 12 machine with apt)
set -euo pipefail
DIR=${1:-.devdeps}
mkdir -p "$DIR"
cd "$DIR"
apt-get download \
    nlohmann-json3-dev libsqlite3-dev libsqlite3-0 libutf8proc-dev libutf8proc2 libre2-dev libre2-9 \
    libssl-dev libssl3 \
    qt6-base-dev qt6-base-dev-tools libqt6core6 libqt6gui6 libqt6widgets6 libqt6test6 libqt6printsupport6 \
    libqt6svg6 qt6-svg-dev libqt6opengl6 libqt6openglwidgets6 libqt6network6 libqt6sql6 libqt6dbus6 \
    libqt6concurrent6 libqt6xml6 libqcustomplot-dev libqcustomplot2.1-qt6 \
    libicu72 libdouble-conversion3 libb2-1 libpcre2-16-0 libmd4c0 libxkbcommon0 \
    libgl-dev libglx-dev libegl-dev libopengl-dev libgl1 libglx0 libglvnd0 libegl1 libopengl0 \
    libvulkan-dev libvulkan1
ls | wc -l
du -sh .

#!/usr/bin/env bash
# PEFT Workbench on a fresh Debian 12 machine:
#   ./workbench.sh open   set up, build, open the workbench (headless demo through the CLI without a display)
#   ./workbench.sh test   set up, build, run every test suite (ends with ctest's summary)
set -euo pipefail
cd "$(dirname "$0")"
action="${1:-open}"
preset="${PEFT_PRESET:-release}"

./scripts/setup.sh
# PEFT_CMAKE_ARGS: extra configure options (.ci/run sets -DPEFT_WARNINGS_AS_ERRORS=ON).
# shellcheck disable=SC2086
cmake --preset "$preset" ${PEFT_CMAKE_ARGS:-}
cmake --build --preset "$preset"

case "$action" in
    open)
        if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
            exec "build/$preset/bin/peft-workbench" "${@:2}"
        fi
        echo "No display found (DISPLAY and WAYLAND_DISPLAY are unset): running the built-in demo headless."
        echo "To see the window without a display: xvfb-run -a build/$preset/bin/peft-workbench"
        echo
        exec "build/$preset/bin/peftwb" demo
        ;;
    test)
        exec ctest --preset "$preset"
        ;;
    *)
        echo "usage: $0 open|test" >&2
        exit 2
        ;;
esac

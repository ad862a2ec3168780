#!/usr/bin/env bash
# Install Debian's chromium for the browser tests (tests/test_ui_browser.py, bench/ui_latency.py).
# Idempotent: does nothing when /usr/bin/chromium exists. Playwright drives this binary;
# `playwright install` (which downloads its own browsers) is never used.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "chromium: $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "error: /usr/bin/chromium is missing and this is not root; run as root: apt-get install -y chromium" >&2
        exit 1
    fi
fi

$SUDO apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
/usr/bin/chromium --version

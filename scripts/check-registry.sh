#!/usr/bin/env bash
# Usage: scripts/check-registry.sh [REQUIREMENTS [CONSTRAINTS]]   (default: the project's two files)
# Prove that requirements.txt + constraints.txt resolve from the package registry alone, as on a
# fresh machine: a throwaway virtual environment, no pip cache, no pip configuration (this machine's
# local indexes and wheel folders are ignored), and --ignore-installed. pip resolves every pin
# (metadata only, --dry-run installs nothing) and fails on a pin that names a missing file, a
# version the registry does not serve, or a conflict. Run by .ci/run before `make test`.
set -euo pipefail
req="$(realpath "${1:-requirements.txt}")"
con="$(realpath "${2:-constraints.txt}")"
cd "$(dirname "$0")/.."

# Static check first: names the bad line (a path, URL, editable or range) without asking the registry.
python3 scripts/pins.py check "$req" "$con"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
# Only the registry: no config files, no find-links or extra indexes from the environment.
export PIP_CONFIG_FILE=/dev/null
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_INDEX_URL PIP_CONSTRAINT PIP_NO_INDEX || true
pip=("$tmp/venv/bin/python" -m pip)
"${pip[@]}" install --quiet --no-cache-dir --upgrade pip
start=$SECONDS
if ! "${pip[@]}" install --dry-run --ignore-installed --no-cache-dir --progress-bar off \
        -r "$req" -c "$con" > "$tmp/pip.log" 2>&1; then
    echo "error: requirements.txt with constraints.txt does not resolve from the package registry alone." >&2
    grep -iE "error|no matching|could not|conflict|cannot|not found|no such file" "$tmp/pip.log" | head -n 20 >&2 || tail -n 20 "$tmp/pip.log" >&2
    echo "Fix: every pin must be a name==version the registry serves (regenerate constraints.txt with make constraints)." >&2
    exit 1
fi
echo "registry check: $(grep -vc '^#' "$req") requirements and $(grep -vc '^#' "$con") constraints resolve from the registry ($((SECONDS - start)) s)"

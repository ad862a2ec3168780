#!/bin/sh
# Re-create eval/corpora/pydocs/ and eval/corpora/gnuplot/ from the Debian packages they were
# taken from, and check every file against the committed SHA256SUMS of each folder.
#
#   sh eval/corpora/fetch_manuals.sh            # from the project root; needs apt-get and dpkg-deb
#
# Sources (Debian 12 "bookworm", main):
#   python3.11-doc 3.11.2-6+deb12u8  -> /usr/share/doc/python3.11/html/<dir>/<page>.html,
#                                       copied unchanged as eval/corpora/pydocs/<dir>-<page>.html
#   gnuplot-doc    5.4.4+dfsg1-2     -> /usr/share/doc/gnuplot/gnuplot.pdf, copied unchanged
# Exit status: 0 when every file matches its checksum, 1 otherwise.
set -eu

PY_PKG=python3.11-doc
PY_VER=3.11.2-6+deb12u8
GP_PKG=gnuplot-doc
GP_VER=5.4.4+dfsg1-2
PAGES="library/json library/gzip library/zipfile library/http.server library/timeit library/venv
       using/cmdline library/shutil library/tempfile library/functools library/logging.handlers
       library/subprocess"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT="$ROOT/eval/corpora"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

cd "$TMP"
apt-get download "$PY_PKG=$PY_VER" "$GP_PKG=$GP_VER"
dpkg-deb -x "${PY_PKG}_${PY_VER}_all.deb" x
dpkg-deb -x "${GP_PKG}_${GP_VER}_all.deb" x

mkdir -p "$OUT/pydocs" "$OUT/gnuplot"
for page in $PAGES; do
    cp "x/usr/share/doc/python3.11/html/$page.html" "$OUT/pydocs/$(echo "$page" | tr / -).html"
done
cp x/usr/share/doc/gnuplot/gnuplot.pdf "$OUT/gnuplot/gnuplot.pdf"

status=0
for dir in pydocs gnuplot; do
    if [ -f "$OUT/$dir/SHA256SUMS" ]; then
        (cd "$OUT/$dir" && sha256sum -c SHA256SUMS) || status=1
    else
        echo "$OUT/$dir/SHA256SUMS is missing: nothing to check against" >&2
        status=1
    fi
done
exit $status

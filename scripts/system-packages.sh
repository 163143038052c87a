#!/bin/sh
# Install the Debian packages the project needs when they are missing: `sh scripts/system-packages.sh
# [--browser]`. Sourced steps of serve.sh and test.sh call it; it is safe to run again.
#   always:     Pango (WeasyPrint renders the PDF documents with it) and a CJK font (Noto CJK),
#               without which the notices would print their Chinese as empty boxes;
#   --browser:  Debian's Chromium, which the browser tests drive through Playwright, and
#               LibreOffice Calc (headless), which opens the Excel exports as a user would.
set -eu
need=""
command -v fc-list >/dev/null 2>&1 && fc-list :lang=zh family | grep -q . || need="$need fonts-noto-cjk fontconfig"
ldconfig -p 2>/dev/null | grep -q "libpango-1.0.so.0" || need="$need libpango-1.0-0 libpangoft2-1.0-0"
if [ "${1:-}" = "--browser" ]; then
    command -v chromium >/dev/null 2>&1 || need="$need chromium"
    command -v soffice >/dev/null 2>&1 || need="$need libreoffice-calc-nogui"
fi
[ -z "$need" ] && exit 0
if [ "$(id -u)" = "0" ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "system-packages: please install as root:$need" >&2
    exit 1
fi
echo "system-packages: installing$need" >&2
$sudo apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $need >/dev/null

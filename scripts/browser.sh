#!/bin/sh
# Make a headless Chromium available for the HTML report test (tests/test_html_report.py).
#
# Idempotent: does nothing when `chromium` and the CJK fonts are already installed.
# Otherwise installs the Debian packages `chromium` and `fonts-noto-cjk` (Chinese labels
# must not render as boxes) with apt-get, after an `apt-get update`.
# Prints the browser's path on success (exit 0). When it cannot install, prints the reason
# on stderr and exits non-zero (the test then skips, showing that reason).
set -u

have_fonts() {
    command -v fc-list >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "noto sans cjk"
}

browser() {
    for name in chromium chromium-browser; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return 0
        fi
    done
    return 1
}

if browser >/dev/null && have_fonts; then
    browser
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "browser.sh: chromium is not installed and apt-get is not available (not Debian/Ubuntu?); install chromium and fonts-noto-cjk yourself" >&2
    exit 2
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "browser.sh: chromium is not installed and installing it needs root (no password-less sudo); run: sudo apt-get install chromium fonts-noto-cjk" >&2
        exit 3
    fi
fi

PACKAGES=""
browser >/dev/null || PACKAGES=" chromium"
have_fonts || PACKAGES="$PACKAGES fonts-noto-cjk"

echo "browser.sh: installing$PACKAGES with apt-get" >&2
if ! $SUDO apt-get update -qq >&2; then
    echo "browser.sh: apt-get update failed (no network or no package mirror?); cannot install$PACKAGES" >&2
    exit 4
fi
# shellcheck disable=SC2086 # the package list is meant to split
if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $PACKAGES >&2; then
    echo "browser.sh: apt-get install$PACKAGES failed; see the messages above" >&2
    exit 5
fi

if ! browser >/dev/null; then
    echo "browser.sh: the chromium package installed but no chromium command is on PATH" >&2
    exit 6
fi
browser

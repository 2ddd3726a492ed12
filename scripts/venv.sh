# Sourced by the other scripts: make (once) and activate .venv with the project and its test tools.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Debian packages: the font for Chinese on tickets and LEDs, and the one for the hall screen's
# pages, the speech synthesiser and sound tool that make the announcement clips, openssl for
# the back office's own certificate, Chromium and its driver for the browser tests, Xvfb for
# the hall screen's kiosk test, the image tool's (tools/flash.py: partitions, FAT without
# mounting, ext4, block maps, RAUC with its D-Bus, users; an arm64 Debian run under qemu-user),
# and venv where Debian ships it apart from python3.
missing=$(for deb in fonts-unifont fonts-wqy-zenhei espeak-ng sox openssl chromium chromium-driver xvfb \
        fdisk mtools dosfstools e2fsprogs bmap-tools rauc squashfs-tools dbus-daemon systemd \
        mmdebstrap qemu-user-static binfmt-support; do dpkg -s "$deb" >/dev/null 2>&1 || echo "$deb"; done)
if [ ! -x .venv/bin/python ] && ! python3 -m venv .venv >/dev/null 2>&1; then
    rm -rf .venv
    missing="$missing python3-venv"
fi
if [ -n "$(echo $missing)" ]; then
    if [ "$(id -u)" -eq 0 ]; then sudo=; else sudo=sudo; fi
    $sudo apt-get update -q && $sudo apt-get install -y -q $missing
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
. .venv/bin/activate
stamp=.venv/.installed-$(cat setup.cfg pyproject.toml | sha1sum | cut -c1-12)
if [ ! -e "$stamp" ]; then
    python -m pip install --quiet --upgrade pip
    python -m pip install --quiet -e '.[test,keypad]'
    rm -f .venv/.installed-*
    touch "$stamp"
fi

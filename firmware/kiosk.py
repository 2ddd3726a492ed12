"""The hall screen on the box's own HDMI output: Chromium in kiosk mode, the size of the X
display, on a hall screen's page (config/queue-hall-screen.service runs this under xinit).

    python -m firmware.kiosk http://127.0.0.1:8080/screen/hall

It waits until the page answers (the appliance may still be starting: Chromium would show an
error page and never look again), then becomes Chromium. The page reconnects by itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

log = logging.getLogger("kiosk")

FLAGS = ("--kiosk", "--noerrdialogs", "--disable-infobars", "--no-first-run",
         "--disable-session-crashed-bubble", "--disable-translate",
         "--disable-features=Translate", "--disable-pinch", "--overscroll-history-navigation=0",
         "--check-for-update-interval=31536000", "--autoplay-policy=no-user-gesture-required",
         "--window-position=0,0")


def display_size(display: str) -> tuple[int, int]:
    """The X display's size in pixels (libX11). Without a window manager, Chromium's --kiosk
    opens a window of half the width unless it is given the size."""
    x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    for name in ("XDefaultScreen", "XDisplayWidth", "XDisplayHeight", "XCloseDisplay"):
        getattr(x11, name).argtypes = [ctypes.c_void_p] + (
            [ctypes.c_int] if name in ("XDisplayWidth", "XDisplayHeight") else [])
    handle = x11.XOpenDisplay(display.encode())
    if not handle:
        raise OSError(f"cannot open the X display {display!r}")
    try:
        screen = x11.XDefaultScreen(handle)
        return x11.XDisplayWidth(handle, screen), x11.XDisplayHeight(handle, screen)
    finally:
        x11.XCloseDisplay(handle)


def wait_for(url: str) -> None:
    """Until `url` answers 200 (logged once while it does not)."""
    told = False
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except (OSError, urllib.error.URLError) as exc:
            if not told:
                log.info("waiting for %s (%s)", url, exc)
                told = True
        time.sleep(1.0)


def command(url: str, width: int, height: int, profile: Path) -> list[str]:
    return ["chromium", *FLAGS, f"--window-size={width},{height}",
            f"--user-data-dir={profile}", url]


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if len(argv) != 1 or not argv[0].startswith(("http://", "https://")):
        sys.exit("usage: python -m firmware.kiosk http://127.0.0.1:8080/screen/<name>")
    width, height = display_size(os.environ.get("DISPLAY", ":0"))
    wait_for(argv[0])
    profile = Path(os.environ.get("HOME", "/tmp")) / ".cache" / "queue-kiosk"
    args = command(argv[0], width, height, profile)
    log.info("showing %s at %dx%d", argv[0], width, height)
    os.execvp(args[0], args)


if __name__ == "__main__":
    main(sys.argv[1:])

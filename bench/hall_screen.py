"""Hall screens: a call's commit to its number on a screen, with 10 screens connected, and
what one kiosk browser costs the box.

The appliance, its back office and hall screens run in a thread of this process as on the
box. Screens: one page in headless Chromium that notes when each called number appears
(a MutationObserver, wall clock), and 9 other streams read by plain HTTP clients. A teller
calls CALLS tickets, one every 0.5 s; the time from posting the key into the loop to the
number on the page is measured (target: p95 <= 200 ms). Then the kiosk of
config/queue-hall-screen.service (firmware/kiosk.py's Chromium at 1920x1080 on Xvfb) shows
the screen for 60 s while calls go on: its CPU and memory (PSS), summed over its processes.
Usage: python bench/hall_screen.py [CALLS]
"""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from browser import Hall  # noqa: E402
from firmware import kiosk  # noqa: E402

WATCH = """
window.seen = {};
new MutationObserver(() => {
  const label = document.querySelector('#newest .label');
  if (label && !(label.textContent in window.seen)) window.seen[label.textContent] = Date.now();
}).observe(document.body, {subtree: true, childList: true, characterData: true});
"""


def streams(url, count, stop):
    """`count` screens that read the stream and throw it away."""
    def read():
        with urllib.request.urlopen(url, timeout=60) as stream:
            while not stop.is_set() and stream.read1(65536):
                pass
    threads = [threading.Thread(target=read, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def latencies(hall, browser, calls):
    """Post-to-visible milliseconds of `calls` calls at counter 2."""
    for _ in range(calls + 1):
        hall.console("A")
    hall.console("2 login T02 2222")
    time.sleep(1.0)
    browser.execute_script(WATCH)
    posted = {}
    for n in range(1, calls + 1):
        posted[f"A{n:03d}"] = time.time() * 1000
        hall.console("2 call")
        time.sleep(0.5)
    seen = browser.execute_script("return window.seen")
    return [seen[label] - at for label, at in posted.items() if label in seen], len(posted)


def process_tree(root):
    """The pids of `root` and its descendants."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def usage(pids):
    """(CPU seconds, PSS in MB) of `pids`."""
    ticks, pss = 0, 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            pass
    return ticks / os.sysconf("SC_CLK_TCK"), pss / 1024


def kiosk_cost(hall, folder, seconds=60):
    display = ":%d" % (os.getpid() % 400 + 100)
    server = subprocess.Popen(["Xvfb", display, "-screen", "0", "1920x1080x24", "-nolisten",
                               "tcp"], stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    browser = subprocess.Popen(
        kiosk.command(hall.screens + "/hall", 1920, 1080, folder / "kiosk") + ["--no-sandbox"],
        env={**os.environ, "DISPLAY": display, "HOME": str(folder)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(10.0)   # started, page loaded
        before, _ = usage(process_tree(browser.pid))
        for n in range(seconds * 2):
            if n % 10 == 0:
                hall.console("A")
                hall.console("2 call")
            time.sleep(0.5)
        after, pss = usage(process_tree(browser.pid))
        return (after - before) / seconds * 100, pss
    finally:
        os.killpg(browser.pid, signal.SIGKILL)
        server.kill()


def main():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        hall = Hall(folder)
        stop = threading.Event()
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--window-size=1920,1080", f"--user-data-dir={folder / 'chromium'}"):
            options.add_argument(flag)
        browser = webdriver.Chrome(service=Service(shutil.which("chromedriver")),
                                   options=options)
        try:
            browser.get(hall.screens + "/hall")
            streams(hall.screens + "/hall/feed", 9, stop)
            time.sleep(1.0)
            print(f"screens connected: {len(hall.app.office.screens.streams)}")
            measured, posted = latencies(hall, browser, calls)
            ms = sorted(measured)
            p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
            print(f"call posted -> number on the screen: p50 {statistics.median(ms):.0f} ms,"
                  f" p95 {p95:.0f} ms, max {ms[-1]:.0f} ms ({len(ms)} of {posted} calls seen;"
                  f" target p95 <= 200 ms: {'met' if p95 <= 200 else 'MISSED'})")
        finally:
            browser.quit()
            stop.set()
        if shutil.which("Xvfb"):
            cpu, pss = kiosk_cost(hall, folder)
            print(f"one kiosk browser (1920x1080, a call every 5 s): {cpu:.0f}% of one core,"
                  f" {pss:.0f} MB PSS")
        hall.close()
    print(f"(machine: {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()

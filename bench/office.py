"""The back office under load, on a year of history (about 500 000 tickets).

The appliance and its office run in this process as on the box; the browsers are another
process (so their work does not share the appliance's interpreter). Prints, against the targets
of issue 12: a committed event to 20 live pages (p95 <= 100 ms); a button press to its commit
while 50 clients poll the API (p99 <= 20 ms); a month's report and today's monitor (<= 1 s,
<= 50 ms); the memory the office adds (<= 30 MB). Boot to ready: bench/boot.py.
Usage: python bench/office.py [DATA_DIR]   (a year of history is made there once, ~30 s)
"""

import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from config.office import OfficeConfig  # noqa: E402
from drivers.events import ButtonPressed  # noqa: E402
from firmware.signature import make_key  # noqa: E402
from hallday import wire  # noqa: E402
from history import make_history  # noqa: E402

PORT = 18443


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def browsers(kind: str, count: int, seconds: float, cookie: str, results) -> None:
    """`count` pages in another process: `sse` pages note when each event arrives
    (monotonic, the same clock system-wide); `poll` pages read the monitor 10 times a second
    each (a page that refreshes itself every few seconds is a hundredth of that)."""
    import aiohttp

    async def page(session: aiohttp.ClientSession, arrivals: dict) -> None:
        if kind == "sse":
            async with session.get(f"http://127.0.0.1:{PORT}/api/events") as stream:
                async for line in stream.content:
                    if line.startswith(b"id: "):
                        arrivals.setdefault(int(line[4:]), []).append(time.monotonic())
        else:
            while True:
                async with session.get(f"http://127.0.0.1:{PORT}/api/monitor") as response:
                    await response.read()
                    arrivals["reads"] = arrivals.get("reads", 0) + 1
                await asyncio.sleep(0.1)

    async def main() -> None:
        arrivals: dict = {}
        async with aiohttp.ClientSession(cookies={"queue_session": cookie},   # (an IP host)
                                         cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            tasks = [asyncio.create_task(page(session, arrivals)) for _ in range(count)]
            await asyncio.sleep(seconds)
            for task in tasks:
                task.cancel()
        results.put(arrivals)

    asyncio.run(main())


async def measure(folder: Path) -> None:
    make_key(folder)
    app, day = wire(folder)
    committed: dict[int, float] = {}   # event id -> when the loop committed it (monotonic)
    handle = app.handle

    def timed(event):
        handle(event)
        if isinstance(event, ButtonPressed):
            committed[app.hall.last_event()] = time.monotonic()
    app.handle = timed
    running = asyncio.create_task(app.run())
    await asyncio.sleep(1.0)
    before = rss_mb()
    import aiohttp

    from firmware.office.server import OfficeServer
    from office import PASSWORD, new_setup_code   # (tests/office.py: aiohttp too)
    app.office = OfficeServer(app, OfficeConfig(address="127.0.0.1", port=PORT, tls=False))
    await app.office.start()
    origin = {"Origin": f"http://127.0.0.1:{PORT}"}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        await asyncio.sleep(0.5)
        url = f"http://127.0.0.1:{PORT}"
        await session.post(url + "/api/setup", headers=origin, json={
            "code": await new_setup_code(app.office, day.devices.printer.link.directory),
            "name": "ada",
            "password": PASSWORD})
        async with session.post(url + "/api/sign-in", headers=origin,
                                json={"name": "ada", "password": PASSWORD}) as response:
            cookie = response.cookies["queue_session"].value

        async def timed_get(path: str, runs: int) -> list[float]:
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                async with session.get(url + path) as response:
                    await response.read()
                    assert response.status == 200, (path, response.status)
                times.append((time.perf_counter() - started) * 1000)
            return times

        monitor = await timed_get("/api/monitor", 20)
        month = (date.today().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
        report = []
        for _ in range(3):   # the page: the figures and its three charts, as a browser asks
            started = time.perf_counter()
            await asyncio.gather(*(timed_get(path + f"?days={month}", 1) for path in (
                "/api/reports", "/api/charts/hourly.svg", "/api/charts/waits.svg",
                "/api/charts/ratings.svg")))
            report.append((time.perf_counter() - started) * 1000)
        after = rss_mb()

    spawn = multiprocessing.get_context("spawn")
    for kind, count in (("sse", 20), ("poll", 50)):
        results = spawn.Queue()
        process = spawn.Process(target=browsers, args=(kind, count, 12.0, cookie, results))
        process.start()
        await asyncio.sleep(3.0)   # the pages are open
        committed.clear()
        pressed = []
        for _ in range(100):
            pressed.append(time.monotonic())
            app.inbox.post(ButtonPressed("A", time.time()))
            await asyncio.sleep(0.05)
        arrivals = await asyncio.to_thread(results.get, True, 30)
        process.join(10)
        if kind == "sse":
            delays = sorted((at - committed[event]) * 1000 for event, ats in arrivals.items()
                            if event in committed for at in ats)
            print(f"event to 20 live pages: {len(delays)} deliveries, p50"
                  f" {statistics.median(delays):.1f} ms, p95"
                  f" {delays[int(len(delays) * 0.95)]:.1f} ms (target: p95 <= 100 ms)")
        else:
            commits = sorted((done - press) * 1000 for press, done in zip(
                pressed, sorted(committed.values())))
            print(f"press to commit beside 50 polling clients ({arrivals.get('reads', 0)}"
                  f" monitor reads in 12 s): p50 {statistics.median(commits):.1f} ms, p99"
                  f" {commits[int(len(commits) * 0.99) - 1]:.1f} ms (target: p99 <= 20 ms)")
    print(f"today's monitor: median {statistics.median(monitor):.1f} ms, max"
          f" {max(monitor):.1f} ms (target: <= 50 ms)")
    print(f"a month's report page ({month}: figures and 3 charts) on a year of history: median"
          f" {statistics.median(report):.0f} ms, max {max(report):.0f} ms (target: <= 1 s)")
    print(f"memory: {before:.0f} MB before the office, {after:.0f} MB with it serving:"
          f" +{after - before:.0f} MB (target: <= 30 MB)")
    app.stop()
    await running
    day.devices.close()


def main(folder: Path | None) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = folder or Path(scratch)
        if not (folder / "queue.db").exists():
            print("making a year of history (about 30 s)…", flush=True)
            make_history(folder / "queue.db")
        asyncio.run(measure(folder))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)

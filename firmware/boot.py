"""Boot: configuration, database, drivers, then the supervisory loop; each stage timed."""

import time

BOOT_START = time.perf_counter()   # the interpreter's own start-up is counted apart, from /proc

import argparse  # noqa: E402  (imports are timed as part of boot)
import asyncio  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from config import DEFAULT, ConfigError, load_or_keep  # noqa: E402
from drivers import build  # noqa: E402
from drivers.events import BackOffice  # noqa: E402
from firmware.main import Appliance, Inbox, Paths  # noqa: E402
from queue_core import Hall  # noqa: E402
from queue_core.recovery import open_or_recover  # noqa: E402

log = logging.getLogger("boot")


def arguments(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="queue-appliance", description=__doc__)
    parser.add_argument("--config", type=Path, default=env("QMS_CONFIG"),
                        help="hall configuration file (env QMS_CONFIG; default: config.toml in"
                             " the data directory, installed from a USB stick, else the shipped"
                             " one)")
    parser.add_argument("--data-dir", type=Path, default=Path(env("QMS_DATA_DIR", "var")),
                        help="writable directory for the database, tickets and the last valid"
                             " configuration (env QMS_DATA_DIR; default: ./var)")
    parser.add_argument("--hardware", choices=("auto", "real", "sim"),
                        default=env("QMS_HARDWARE", "auto"),
                        help="auto: each device real where found, simulated otherwise; real or"
                             " sim: all of them (env QMS_HARDWARE)")
    return parser.parse_args(argv)


def process_age() -> float:
    """Seconds since this process started (to 10 ms, from /proc; 0 where there is none)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    imports = time.perf_counter() - BOOT_START
    timings = {"interpreter": max(0.0, process_age() - imports), "imports": imports}
    mark = time.perf_counter()

    def stage(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        timings[name] = now - mark
        mark = now

    installed = args.data_dir / "config.toml"
    paths = Paths(config=Path(args.config) if args.config else
                  installed if installed.exists() else DEFAULT,
                  last_valid=args.data_dir / "last-valid-config.toml", data=args.data_dir)
    if paths.last_valid.exists() and not paths.database.exists():
        log.critical("%s is missing: starting an empty database", paths.database)
    try:
        config = load_or_keep(paths.config, paths.last_valid)
    except ConfigError as exc:
        log.critical("boot failed: %s", exc)
        return 2
    stage("config")
    db, recovery = open_or_recover(paths.database)
    if recovery:
        log.critical("database recovered: %s", recovery)
    hall = Hall(db, config.hall)
    stage("database")
    inbox = Inbox()
    devices = build(config.hardware, [s.prefix for s in config.hall.services], args.hardware,
                    args.data_dir, inbox.post, time.time, sys.stdout)
    appliance = Appliance(hall, devices, inbox, config, paths,
                          notes=[recovery] if recovery else [])
    stage("drivers")
    log.info("ready in %.3f s from process start (%s)", sum(timings.values()),
             ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in timings.items()))
    if devices.console:
        print(f"{config.hall.name}: ready; type help for the commands", flush=True)
    try:
        asyncio.run(serve(appliance))
    finally:
        devices.close()
        hall.db.close()
    return 0


async def serve(appliance: Appliance) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, appliance.stop)
    loop.add_signal_handler(signal.SIGHUP, lambda: appliance.inbox.post(
        BackOffice("reload", time.time())))
    if appliance.devices.console:
        appliance.devices.console.attach(sys.stdin.fileno(), appliance.inbox.post)
    await appliance.run()


if __name__ == "__main__":
    sys.exit(main())

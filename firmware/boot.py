"""Boot: configuration, database, drivers, then the supervisory loop; each stage timed."""

import time

BOOT_START = time.perf_counter()

import argparse  # noqa: E402  (imports are timed as part of boot)
import asyncio  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from config import DEFAULT, ConfigError, load_or_keep  # noqa: E402
from drivers import build  # noqa: E402
from firmware.main import Appliance, Inbox  # noqa: E402
from queue_core import Hall, open_database  # noqa: E402
from queue_core.errors import StorageError  # noqa: E402

log = logging.getLogger("boot")


def arguments(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="queue-appliance", description=__doc__)
    parser.add_argument("--config", type=Path, default=Path(env("QMS_CONFIG", DEFAULT)),
                        help="hall configuration file (env QMS_CONFIG; default: the shipped one)")
    parser.add_argument("--data-dir", type=Path, default=Path(env("QMS_DATA_DIR", "var")),
                        help="writable directory for the database, tickets and the last valid"
                             " configuration (env QMS_DATA_DIR; default: ./var)")
    parser.add_argument("--hardware", choices=("auto", "real", "sim"),
                        default=env("QMS_HARDWARE", "auto"),
                        help="auto: each device real where found, simulated otherwise; real or"
                             " sim: all of them (env QMS_HARDWARE)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    timings = {"imports": time.perf_counter() - BOOT_START}
    mark = time.perf_counter()

    def stage(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        timings[name] = now - mark
        mark = now

    try:
        config = load_or_keep(args.config, args.data_dir / "last-valid-config.toml")
        stage("config")
        hall = Hall(open_database(args.data_dir / "queue.db"), config.hall)
        stage("database")
    except (ConfigError, StorageError) as exc:
        log.critical("boot failed: %s", exc)
        return 2
    # python-escpos re-parses its printer database in every new process unless it has a cache.
    (args.data_dir / "cache").mkdir(exist_ok=True)
    os.environ.setdefault("ESCPOS_CAPABILITIES_PICKLE_DIR", str(args.data_dir / "cache"))
    inbox = Inbox()
    devices = build(config.hardware, [s.prefix for s in config.hall.services], args.hardware,
                    args.data_dir, inbox.post, time.time, sys.stdout)
    appliance = Appliance(hall, devices, inbox, config)
    stage("drivers")
    log.info("ready in %.3f s (%s)", time.perf_counter() - BOOT_START,
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
    if appliance.devices.console:
        appliance.devices.console.attach(sys.stdin.fileno(), appliance.inbox.post)
    await appliance.run()


if __name__ == "__main__":
    sys.exit(main())

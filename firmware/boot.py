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
from drivers import simulated  # noqa: E402
from drivers.console import Console  # noqa: E402
from firmware.main import Appliance  # noqa: E402
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
    parser.add_argument("--hardware", choices=("auto", "sim"), default=env("QMS_HARDWARE", "auto"),
                        help="auto: real devices where found, simulated otherwise; sim: all"
                             " simulated (env QMS_HARDWARE)")
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
        hall = Hall(open_database(args.data_dir / "queue.db"), config)
        stage("database")
    except (ConfigError, StorageError) as exc:
        log.critical("boot failed: %s", exc)
        return 2
    # No real device drivers are in this firmware yet: every device is simulated.
    log.warning("no hardware drivers found: printer, wall display, audio, ticket buttons and"
                " keypads are simulated on this terminal")
    outputs, console = simulated(args.data_dir / "tickets", sys.stdout)
    appliance = Appliance(hall, outputs)
    stage("drivers")
    log.info("ready in %.3f s (%s)", time.perf_counter() - BOOT_START,
             ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in timings.items()))
    print(f"{config.name}: simulated hall ready; type help for the commands", flush=True)
    asyncio.run(serve(appliance, console))
    hall.db.close()
    return 0


async def serve(appliance: Appliance, console: Console) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, appliance.stop)
    console.attach(sys.stdin.fileno(), appliance.post)
    await appliance.run()


if __name__ == "__main__":
    sys.exit(main())

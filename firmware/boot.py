"""Boot: configuration, database, drivers, then the supervisory loop; each stage timed."""

import time

BOOT_START = time.perf_counter()   # the interpreter's own start-up is counted apart, from /proc

import argparse  # noqa: E402  (imports are timed as part of boot)
import asyncio  # noqa: E402
import fcntl  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import stat  # noqa: E402
import sys  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Iterator  # noqa: E402

from config import DEFAULT, ConfigError, load_or_keep, remember  # noqa: E402
from config.pin_hashing import keepable  # noqa: E402
from drivers import build  # noqa: E402
from drivers.events import BackOffice  # noqa: E402
from firmware.main import Appliance, Inbox, Paths  # noqa: E402
from firmware.signature import KEY_NAME, make_key  # noqa: E402
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
    parser.add_argument("--console", action="store_true",
                        help="read commands from standard input whatever it is (by default only"
                             " from a terminal, a pipe or a file, never from /dev/null)")
    return parser.parse_args(argv)


class Unusable(Exception):
    """The data directory cannot be made, or another appliance holds it."""


@contextmanager
def held(data_dir: Path) -> Iterator[None]:
    """The data directory, made if need be, held by this process alone."""
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(data_dir / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW,
                     0o600)
    except OSError as exc:
        raise Unusable(f"cannot use the data directory {data_dir}: {exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Unusable(f"another appliance is running on the data directory {data_dir}:"
                           " not started") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


def has_console(fd: int) -> bool:
    """A terminal, a pipe, a socket or a file to read commands from; not /dev/null, which is
    what systemd gives a service."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return os.isatty(fd) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISREG(mode)


def run_dir(data_dir: Path) -> Path:
    """Where the console socket lives: systemd's RuntimeDirectory, else beside the data."""
    runtime = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    return Path(runtime) if runtime else data_dir / "run"


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
    os.umask(0o077)   # what the box writes (queue, tickets, keys) is for its own user alone
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

    try:
        with held(args.data_dir):
            return start(args, stage, timings)
    except Unusable as exc:
        log.critical("%s", exc)
        return 1


def start(args: argparse.Namespace, stage: Callable[[str], None],
          timings: dict[str, float]) -> int:
    """Configuration, database and drivers, then the loop until it stops; returns the exit
    status."""
    if make_key(args.data_dir):
        log.warning("made this box's installation key, %s: a technician signs configuration"
                    " sticks with it (README, Security)", args.data_dir / KEY_NAME)
    installed = args.data_dir / "config.toml"
    paths = Paths(config=Path(args.config) if args.config else
                  installed if installed.exists() else DEFAULT,
                  last_valid=args.data_dir / "last-valid-config.toml", data=args.data_dir)
    if paths.last_valid.exists() and not paths.database.exists():
        log.critical("%s is missing: starting an empty database", paths.database)
    config, fallback = load_or_keep(paths.config, paths.last_valid)
    if fallback:
        log.critical(fallback)
    stage("config")
    db, recovery = open_or_recover(paths.database)
    if recovery:
        log.critical("database recovered: %s", recovery)
    hall = Hall(db, config.hall)
    unkept = None
    if not fallback:   # kept only once the database exists: its absence then means loss
        try:
            remember(keepable(config).data, paths.last_valid)
        except (ConfigError, OSError) as exc:
            unkept = f"the configuration runs but was not kept as the last valid one: {exc}"
            log.error(unkept)
    stage("database")
    inbox = Inbox()
    devices = build(config.hardware, [s.prefix for s in config.hall.services], args.hardware,
                    args.data_dir, inbox.post, time.time, sys.stdout)
    appliance = Appliance(hall, devices, inbox, config, paths,
                          notes=[note for note in (fallback, unkept, recovery) if note])
    stage("drivers")
    log.info("ready in %.3f s from process start (%s)", sum(timings.values()),
             ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in timings.items()))
    try:
        asyncio.run(serve(appliance, args.console or has_console(0), run_dir(args.data_dir)))
    finally:
        devices.close()
        hall.db.close()
    return 0


async def serve(appliance: Appliance, console: bool, run: Path) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, appliance.stop)
    loop.add_signal_handler(signal.SIGHUP, lambda: appliance.inbox.post(
        BackOffice("reload", time.time())))
    post = appliance.inbox.post
    if console:   # under systemd the end of input must not stop the hall
        appliance.devices.console.attach(0, post, end_quits="INVOCATION_ID" not in os.environ)
        print(f"{appliance.config.hall.name}: ready; type help for the commands", flush=True)
    try:
        run.mkdir(mode=0o700, parents=True, exist_ok=True)
        await appliance.devices.console.listen(run / "console.sock", post)
    except OSError as exc:
        log.error("no console socket at %s: %s", run / "console.sock", exc)
    try:
        await appliance.run()
    finally:
        appliance.devices.console.close()


if __name__ == "__main__":
    sys.exit(main())

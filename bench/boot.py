"""Boot to ready, in fresh processes: with an empty database and with a year of history.

"Ready" is the moment the appliance takes button presses (it prints its ready line). Prints
min / median / max of the time from starting the process, the appliance's own split of the
median run, and the modules that take longest to import.
Usage: python bench/boot.py [RUNS] [FOLDER for the year's database, kept between runs]
"""

import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.history import make_history  # noqa: E402

STAGES = re.compile(r"ready in [\d.]+ s from process start \((.*)\)")


def boot_once(data_dir: Path) -> tuple[float, str]:
    started = time.perf_counter()
    box = subprocess.Popen([sys.executable, "-m", "firmware.boot", "--data-dir", str(data_dir),
                            "--hardware", "sim"], cwd=ROOT, stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in box.stdout:
        if "ready; type help" in line:
            ready = time.perf_counter() - started
            break
    else:
        raise RuntimeError("the appliance never got ready")
    _, err = box.communicate("quit\n", timeout=60)
    stages = STAGES.search(err)
    return ready, stages[1] if stages else "?"


def measure(name: str, data_dir: Path, runs: int) -> None:
    boot_once(data_dir)   # first boot: creates files and caches, as after installation
    results = sorted(boot_once(data_dir) for _ in range(runs))
    times = [t for t, _ in results]
    print(f"{name:<34} min {min(times):.3f} s   median {statistics.median(times):.3f} s"
          f"   max {max(times):.3f} s   ({runs} runs)")
    print(f"{'':<34} median run: {results[len(results) // 2][1]}")


def largest_imports(count: int = 8) -> None:
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", "import firmware.boot"],
                            cwd=ROOT, capture_output=True, text=True)
    rows = []
    for line in result.stderr.splitlines()[1:]:
        _, _, total, name = (part.strip() for part in re.split(r"[:|]", line, maxsplit=3))
        rows.append((int(total), name))
    top = [r for r in rows if r[1] and not r[1].startswith(" ")]
    largest = sorted(top, reverse=True)[:count]
    print("largest imports (cumulative):",
          ", ".join(f"{name.strip()} {total / 1000:.0f} ms" for total, name in largest))


def main(runs: int, year_dir: Path | None) -> None:
    with tempfile.TemporaryDirectory() as empty:
        measure("empty database", Path(empty), runs)
    with tempfile.TemporaryDirectory() as work:
        year = year_dir or Path(work)
        if not (year / "queue.db").exists():
            print("making a year of history (about 30 s)…", flush=True)
            make_history(year / "queue.db")
        size = (year / "queue.db").stat().st_size / 1e6
        copy = Path(work) / "boot"
        copy.mkdir(exist_ok=True)
        shutil.copy(year / "queue.db", copy / "queue.db")
        measure(f"a year of history ({size:.0f} MB)", copy, runs)
    largest_imports()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10,
         Path(sys.argv[2]) if len(sys.argv) > 2 else None)

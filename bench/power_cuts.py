"""The long power-cut run: the appliance killed (SIGKILL) at random instants, N times in a row.

Prints the counts; lost and duplicated must be 0. Usage: python bench/power_cuts.py [KILLS] [SEED]
"""

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from power import PowerCuts  # noqa: E402


def main(kills: int, seed: int) -> int:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        tally = PowerCuts(Path(folder), seed).run(kills)
    print(tally.line(), f"in {time.perf_counter() - started:.0f} s")
    for problem in tally.problems[:20]:
        print("  ", problem)
    if not (tally.tickets_acknowledged and tally.calls_acknowledged):
        print("   the box acknowledged no ticket or no call: the workload was not exercised")
        return 1
    return 0 if (tally.lost, tally.duplicated, tally.problems) == (0, 0, []) else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000,
                  int(sys.argv[2]) if len(sys.argv) > 2 else 1))

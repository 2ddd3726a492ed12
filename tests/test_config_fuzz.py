"""Mutated configuration files: each one loads or is refused by a ConfigError, never a crash."""

import random
import re
import time

import pytest

from config import DEFAULT, ApplianceConfig, ConfigError, load_config
from test_config import GOOD

SEED = 20261123       # a failure names its case: the same seed makes the same files again
CASES = 10_000        # per starting file, unless the time runs out first
SECONDS = 5           # per starting file
HOSTILE = [
    "[[1]]", '[["zh"]]', "[" * 10000 + "]" * 10000, "9" * 5000, "-" + "9" * 5000,
    "0x" + "f" * 5000, "nan", "-inf", "inf", "1e999", "-1", "0", "-0.0", "true", "false",
    '"' + "x" * 100_000 + '"', '"' + "码" * 41 + '"', '"\\u001b@\\u001dV\\u0000"',
    '"\\u202eA"', '"A\\u200b"', '"\\u2028"', '"\\ue000"', '"\\U0010FFFF"', '"\\t"',
    "1979-05-27", "1979-05-27T07:32:00Z", "07:32:00", "{ a = 1 }", "{}", "[]", "[1, 2, 3]",
    '["A", "A"]', '"{label:>99999999}"', '"{label.x}"', '"{0}"', '"{"', '"/dev/zero"',
    '"/var/lib/queue-appliance/queue.db"', '"../../etc"', "'''\n'''", '"A"', '""',
]
VALUE = re.compile(rb"^(\s*[A-Za-z_]+\s*=\s*)")


def mutate(text: str, rng: random.Random) -> bytes:
    """One to three mutations: a value made hostile, a line deleted or doubled, a bit flipped."""
    lines = text.encode().splitlines(keepends=True)
    for _ in range(rng.randint(1, 3)):
        n = rng.randrange(len(lines))
        kind = rng.choice(["value", "value", "delete", "double", "flip"])
        options = [i for i, line in enumerate(lines) if VALUE.match(line)]
        if kind == "value" and options:
            n = rng.choice(options)
            lines[n] = VALUE.match(lines[n])[1] + rng.choice(HOSTILE).encode() + b"\n"
        elif kind == "delete" and len(lines) > 1:
            del lines[n]
        elif kind == "double":
            lines.insert(n, lines[n])
        elif kind == "flip":
            line = bytearray(lines[n])
            line[rng.randrange(len(line))] ^= 1 << rng.randrange(8)
            lines[n] = bytes(line)
    return b"".join(lines)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("start", ["default.toml", "GOOD"])
def test_a_mutated_file_loads_or_is_refused_with_a_config_error(tmp_path, start):
    text = DEFAULT.read_text(encoding="utf-8") if start == "default.toml" else GOOD
    rng = random.Random(f"{SEED} {start}")
    path = tmp_path / "hall.toml"
    deadline = time.monotonic() + SECONDS
    refused = 0
    for case in range(CASES):
        if time.monotonic() > deadline:
            break
        data = mutate(text, rng)
        path.write_bytes(data)
        try:
            config = load_config(path)
        except ConfigError as exc:
            refused += 1
            assert str(exc).startswith(f"{path}: "), f"case {case}: {exc}"
        except Exception as exc:
            shown = data.decode("utf-8", "replace")
            pytest.fail(f"{start}, seed {SEED}, case {case}: {type(exc).__name__}: {exc}\n"
                        f"--- the mutated file ({len(data)} bytes) ---\n{shown[:20_000]}")
        else:
            assert isinstance(config, ApplianceConfig) and config.data == data
    assert refused > 0

"""The `[[screen]]` tables: hall screens (a page on the box's HDMI output or any browser on
the LAN), each with its layout, zones and the services and counters it shows; a hospital's
department screen is one with the "rooms" zone."""

from __future__ import annotations

import re
from dataclasses import dataclass

from config.table import Table

LAYOUTS = ("landscape", "portrait")   # 16:9 and 9:16
# info: the playlist's images, videos and texts; rooms (a hospital's department): each room's
# patient and those waiting at its door, and how many wait in all
ZONES = ("calls", "waiting", "info", "rooms")
SHOWN = ("calls", "waiting", "info")   # a screen's zones unless it lists them
NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")


@dataclass(frozen=True)
class ScreenConfig:
    name: str                           # its address: /screen/<name>
    layout: str = "landscape"
    zones: tuple[str, ...] = SHOWN      # what it shows, in this order
    services: tuple[str, ...] = ()      # only these services' calls, queues and rooms (): all
    counters: tuple[int, ...] = ()      # only calls to and rooms of these counters (): all


def read_screens(tables: list[Table], services: set[str], counters: set[int]
                 ) -> tuple[ScreenConfig, ...]:
    """The screens configured; without any, one: `hall`, landscape, with the zones of SHOWN."""
    screens = []
    for t in tables:
        screen = ScreenConfig(
            name=t.get("name", str, check=lambda v: NAME.fullmatch(v) is not None,
                       why="must be 1 to 32 small letters, digits and -"),
            layout=t.get("layout", str, "landscape", lambda v: v in LAYOUTS,
                         "must be \"landscape\" or \"portrait\""),
            zones=tuple(t.get("zones", list, list(SHOWN), lambda v: 0 < len(v) == len(set(v))
                              and all(z in ZONES for z in v),
                              "must list some of " + ", ".join(f'"{z}"' for z in ZONES)
                              + ", once each", item=str)),
            services=tuple(t.get("services", list, [], lambda v: all(s in services for s in v),
                                 "must list services of the hall", item=str)),
            counters=tuple(t.get("counters", list, [], lambda v: all(c in counters for c in v),
                                 "must list counters of the hall", item=int)))
        if screen.name in {s.name for s in screens}:
            raise t.error("name", f"{screen.name!r} names two screens")
        t.close()
        screens.append(screen)
    return tuple(screens) or (ScreenConfig("hall"),)

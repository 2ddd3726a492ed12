"""The hospital's tables: `[hospital]`, the flow's `[[stage]]`s and the priority `[[lane]]`s."""

from __future__ import annotations

import re

from config.table import ConfigError, Table, shown
from queue_core.model import MOVERS, PRIVACY, RETURNS, HospitalConfig, Lane, Stage

CODE = re.compile(r"[A-Za-z0-9_.-]{1,20}")   # an HIS code: department, admission type
LANE = re.compile(r"[a-z][a-z0-9-]{0,19}")
CODES = "must be a list of HIS codes (1 to 20 letters, digits, _ . -)"


def read_hospital(hospital: Table, stages: list[Table], lanes: list[Table], services: set[str],
                  path: str) -> HospitalConfig:
    """The flow, checked against the hall's `services`: without any [[stage]], none (a bank);
    [hospital] and [[lane]] then have nothing to apply to and are refused."""
    read_stages = tuple(_stage(t, services) for t in stages)
    read_lanes = tuple(_lane(t) for t in lanes)
    staged = {s.service for s in read_stages}
    config = HospitalConfig(
        stages=read_stages, lanes=read_lanes,
        privacy=hospital.get("privacy", str, HospitalConfig.privacy, lambda v: v in PRIVACY,
                             "must be " + _either(PRIVACY)),
        pharmacy=hospital.get("pharmacy", str, None, lambda v: v in staged,
                              "must be the service of a [[stage]]"))
    hospital.close()
    if not read_stages and (hospital.data or read_lanes):
        raise ConfigError(f"{path}: [hospital] and [[lane]] need the flow's [[stage]] tables")
    _unique(path, "stage", "service", [s.service for s in read_stages])
    _unique(path, "lane", "name", [lane.name for lane in read_lanes])
    _unique(path, "stage", "his", [code for s in read_stages for code in s.his])
    _unique(path, "lane", "his", [code for lane in read_lanes for code in lane.his])
    return config


def _stage(t: Table, services: set[str]) -> Stage:
    service = t.get("service", str, check=lambda v: v in services,
                    why="must be the prefix of a [[service]]")
    stage = Stage(
        service=service,
        next=tuple(t.get("next", list, [], lambda v: all(s in services and s != service
                                                         for s in v) and len(set(v)) == len(v),
                         "must list other services' prefixes, once each", item=str)),
        moved_by=tuple(t.get("moved_by", list, list(MOVERS), lambda v: set(v) <= set(MOVERS)
                             and len(set(v)) == len(v), "must list some of "
                             + _either(MOVERS, "and"), item=str)),
        check_in=t.get("check_in", bool, False),
        door=t.get("door", int, 0, lambda n: 0 <= n <= 9, "must be 0 to 9 patients"),
        back=t.get("back", bool, False),
        returns=t.get("returns", str, Stage.returns, lambda v: v in RETURNS,
                      "must be " + _either(RETURNS)),
        missed_behind=t.get("missed_behind", int, Stage.missed_behind,
                            lambda n: 0 <= n <= 99, "must be 0 to 99 patients"),
        held=t.get("held", bool, False),
        his=tuple(t.get("his", list, [], lambda v: all(CODE.fullmatch(c) for c in v), CODES,
                        item=str)))
    t.close()
    return stage


def _lane(t: Table) -> Lane:
    lane = Lane(
        name=t.get("name", str, check=lambda v: LANE.fullmatch(v) is not None,
                   why="must be 1 to 20 small letters, digits and -, starting with a letter"),
        name_zh=t.text("name_zh", 20, ""),
        first=t.get("first", bool, False),
        his=tuple(t.get("his", list, [], lambda v: all(CODE.fullmatch(c) for c in v), CODES,
                        item=str)))
    t.close()
    return lane


def _either(words: tuple[str, ...], last: str = "or") -> str:
    return ", ".join(f'"{w}"' for w in words[:-1]) + f' {last} "{words[-1]}"'


def _unique(path: str, table: str, option: str, keys: list[str]) -> None:
    seen = set()
    for key in keys:
        if key in seen:
            raise ConfigError(f"{path}: [[{table}]] option {option!r}: {shown(key)} is given"
                              " twice")
        seen.add(key)

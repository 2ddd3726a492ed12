"""A hospital's figures on a scripted day of the shipped example's outpatient floor: per stage,
per doctor and the whole visit, to the second."""

from pathlib import Path

import pytest

from conftest import at
from config import load_config
from queue_core import Hall, open_database
from queue_core.visit_statistics import hospital

EXAMPLE = load_config(Path(__file__).parents[1] / "config" / "examples" / "hospital.toml").hall
DAY = "2026-11-23"
ROOMS = {1: "D01", 2: "D02", 11: "L01", 21: "K01", 31: "P01"}


@pytest.fixture
def hall(db_path):
    db = open_database(db_path)
    yield Hall(db, EXAMPLE)
    db.close()


def seen(hall, room, called, started, ended, send_to=None):
    """The room or window calls its next patient, who comes; they finish there or are sent on
    to the back of the next queue (`transfer L back` on the keypad). Times: (hour, minute)."""
    ticket = hall.call_next(room, at(*called))
    hall.start(room, at(*started))
    if send_to:
        hall.transfer(room, at(*ended), service=send_to, keep_place=False)
    else:
        hall.finish(room, at(*ended))
    return ticket.label


def a_day(hall):
    """Six patients of internal medicine: N001 goes to the lab and back to Dr. Zhao, then to the
    cashier and the pharmacy; N002 misses the call, checks in again and is seen; N003 goes
    through the cashier to the pharmacy; N004 leaves; N005 never checks in; N006 misses the
    call and does not come back."""
    for room, doctor in ROOMS.items():
        hall.login(room, at(8), teller=doctor, pin_ok=True)
    for n in range(6):
        hall.register(at(8, n), "N", f"P{n + 1}", "张三", f"V{n + 1}")
    for minute, n in enumerate((1, 2, 3, 4, 6)):
        hall.check_in(f"N00{n}", at(8, 5 + minute))
    hall.leave("N004", at(8, 30))
    assert seen(hall, 1, (9, 0), (9, 1), (9, 11), "L") == "N001"     # waited 55 min
    assert hall.call_next(2, at(9, 2)).label == "N002"                # waited 56 min
    hall.skip(2, at(9, 3))
    assert seen(hall, 2, (9, 5), (9, 5), (9, 15), "K") == "N003"     # waited 58 min
    assert seen(hall, 11, (9, 12), (9, 13), (9, 23)) == "N001"       # back to Dr. Zhao
    assert seen(hall, 21, (9, 16), (9, 16), (9, 20)) == "N003"
    hall.check_in("N002", at(9, 20))                                  # behind N006
    assert seen(hall, 1, (9, 25), (9, 25), (9, 30), "K") == "N001"   # the return first
    assert hall.call_next(2, at(9, 26)).label == "N006"               # waited 77 min
    hall.skip(2, at(9, 27))
    assert seen(hall, 2, (9, 28), (9, 28), (9, 38)) == "N002"        # no prescription
    assert seen(hall, 21, (9, 31), (9, 31), (9, 33)) == "N001"
    hall.ready("V3", at(9, 40))
    hall.ready("V1", at(9, 45))
    assert seen(hall, 31, (9, 50), (9, 50), (9, 52)) == "N003"       # 110 min since 8:02
    assert seen(hall, 31, (9, 53), (9, 53), (9, 55)) == "N001"       # 115 min since 8:00


def figures(patients=0, seen=0, missed=0, checked_in_again=0, left=0, returns=0,
            waits=(None, None), consultations=(None, None)):
    return {"patients": patients, "seen": seen, "missed": missed,
            "checked_in_again": checked_in_again, "left": left, "returns": returns,
            "average_wait": waits[0], "longest_wait": waits[1],
            "average_consultation": consultations[0], "longest_consultation": consultations[1]}


def test_a_day_per_stage(hall):
    a_day(hall)
    stages = hospital(hall.db, DAY, DAY, EXAMPLE)["stages"]
    assert stages == {
        # waits 55, 56, 58 min, 2 min (the return), 77 and 8 min; consultations 10, 10, 5, 10
        "N": figures(patients=6, seen=4, missed=2, checked_in_again=1, left=1, returns=1,
                     waits=(15360 / 6, 4620), consultations=(525, 600)),
        "S": figures(),
        "L": figures(patients=1, seen=1, waits=(60, 60), consultations=(600, 600)),
        "K": figures(patients=2, seen=2, waits=(60, 60), consultations=(180, 240)),
        "P": figures(patients=2, seen=2, waits=(540, 600), consultations=(120, 120))}


def test_a_day_per_doctor(hall):
    a_day(hall)
    doctors = hospital(hall.db, DAY, DAY, EXAMPLE)["doctors"]
    assert doctors == {
        "D01": figures(patients=1, seen=2, returns=1, waits=(1710, 3300),
                       consultations=(450, 600)),
        "D02": figures(patients=3, seen=2, missed=2, checked_in_again=1,
                       waits=(11940 / 4, 4620), consultations=(600, 600)),
        "K01": figures(patients=2, seen=2, waits=(60, 60), consultations=(180, 240)),
        "L01": figures(patients=1, seen=1, waits=(60, 60), consultations=(600, 600)),
        "P01": figures(patients=2, seen=2, waits=(540, 600), consultations=(120, 120))}


def test_a_day_of_whole_visits_from_registration_to_the_pharmacy(hall):
    a_day(hall)
    assert hospital(hall.db, DAY, DAY, EXAMPLE)["visits"] == {
        "patients": 6, "collected": 2, "left": 1, "open": 1,
        "average_stay": 6750, "median_stay": 6750, "longest_stay": 6900}


def test_a_doctors_own_patient_who_leaves_counts_for_the_doctor(hall):
    hall.register(at(8), "N", "P1", "张三", "V1", doctor="D03")
    hall.check_in("N001", at(8, 1))
    hall.leave("N001", at(8, 20))
    report = hospital(hall.db, DAY, DAY, EXAMPLE)
    assert report["doctors"] == {"D03": figures(left=1)}
    assert (report["stages"]["N"]["left"], report["visits"]["left"]) == (1, 1)


def test_a_prescription_held_then_collected(hall):
    hall.register(at(8), "N", "P1", "张三", "V1")
    hall.check_in("N001", at(8))
    for room in (1, 31):
        hall.login(room, at(8), teller=ROOMS[room], pin_ok=True)
    seen(hall, 1, (8, 10), (8, 10), (8, 20))
    hall.ready("V1", at(8, 30))
    hall.call_next(31, at(8, 31))
    for minute in (32, 33, 34):
        hall.recall(31, at(8, minute))                                # not come: held
    visits = hospital(hall.db, DAY, DAY, EXAMPLE)["visits"]
    assert (visits["open"], visits["collected"]) == (1, 0)
    hall.release("N001", at(9, 30))
    seen(hall, 31, (9, 31), (9, 31), (9, 32))
    report = hospital(hall.db, DAY, DAY, EXAMPLE)
    assert report["visits"] == {"patients": 1, "collected": 1, "left": 0, "open": 0,
                                "average_stay": 5520, "median_stay": 5520,
                                "longest_stay": 5520}
    assert report["stages"]["P"]["missed"] == 0                       # held, not missed


def test_an_empty_range(hall):
    a_day(hall)
    report = hospital(hall.db, "2026-11-24", "2026-11-30", EXAMPLE)
    assert report == {"stages": {s: figures() for s in "NSLKP"}, "doctors": {},
                      "visits": {"patients": 0, "collected": 0, "left": 0, "open": 0,
                                 "average_stay": None, "median_stay": None,
                                 "longest_stay": None}}


def test_a_range_of_days(hall):
    a_day(hall)
    assert hall.turn_day(at(0, 1, day=24)) == ("2026-11-24", 1, 0)    # N005 expires
    hall.register(at(8, day=24), "N", "P7", "李四", "V7", doctor="D02")
    hall.check_in("N001", at(8, 10, day=24))
    assert seen(hall, 2, (9, 0, 0, 24), (9, 0, 0, 24), (9, 5, 0, 24), "K") == "N001"
    assert seen(hall, 21, (9, 6, 0, 24), (9, 6, 0, 24), (9, 8, 0, 24)) == "N001"
    hall.ready("V7", at(9, 10, day=24))
    assert seen(hall, 31, (9, 20, 0, 24), (9, 20, 0, 24), (9, 21, 0, 24)) == "N001"

    first = hospital(hall.db, DAY, DAY, EXAMPLE)["visits"]
    assert (first["patients"], first["open"]) == (6, 0)               # N005 expired
    second = hospital(hall.db, "2026-11-24", "2026-11-24", EXAMPLE)
    assert second["visits"]["longest_stay"] == 81 * 60
    assert second["doctors"]["D02"]["patients"] == 1
    both = hospital(hall.db, DAY, "2026-11-24", EXAMPLE)
    assert both["visits"] == {"patients": 7, "collected": 3, "left": 1, "open": 0,
                              "average_stay": (6600 + 6900 + 4860) / 3, "median_stay": 6600,
                              "longest_stay": 6900}
    assert both["stages"]["N"]["patients"] == 7                       # N001 twice: two days
    assert both["doctors"]["D02"]["patients"] == 4
    assert both["stages"]["P"]["longest_consultation"] == 120

"""A hospital's day in the queue domain: registration, triage, rooms' doors, doctors' own
patients, tests and returns, missed numbers, priority lanes, the pharmacy, exactly-once HIS
messages; all by the shipped example's flow."""

from pathlib import Path

import pytest

from conftest import at
from config import load_config
from queue_core import Hall, errors, open_database
from queue_core.model import State

EXAMPLE = load_config(Path(__file__).parents[1] / "config" / "examples" / "hospital.toml").hall


@pytest.fixture
def hall(db_path):
    db = open_database(db_path)
    yield Hall(db, EXAMPLE)
    db.close()


def registered(hall, count, service="N", doctor=None, lane=None, minute=0, check_in=True):
    labels = []
    for n in range(count):
        visit = f"V{service}{minute + n}"
        ticket = hall.register(at(8, minute + n), service, f"P{minute + n}", "张三丰", visit,
                               doctor=doctor, lane=lane)
        labels.append(ticket.label)
        if check_in:
            hall.check_in(ticket.label, at(8, minute + n, 30))
    return labels


def doctors(hall, *rooms):
    for room in rooms:
        hall.login(room, at(8), teller={1: "D01", 2: "D02", 3: "D03", 4: "D04", 5: "D05",
                                        11: "L01", 21: "K01", 31: "P01"}[room], pin_ok=True)


def latest(hall, label):
    """The patient's visit now: the last of their ticket's visits."""
    return [t for t in hall.tickets(hall.today(at(12))) if t.label == label][-1]


def test_a_registered_patient_waits_for_the_triage_desk_then_queues_in_check_in_order(hall):
    first, second = registered(hall, 2, check_in=False)
    assert latest(hall, first).state is State.REGISTERED
    assert hall.waiting(at(9))["N"] == []
    hall.check_in(second, at(9))
    hall.check_in(first, at(9, 1))
    assert [t.label for t in hall.waiting(at(9))["N"]] == [second, first]
    with pytest.raises(errors.WrongState):
        hall.check_in(first, at(9, 2))                 # waiting already: nothing changes


def test_the_next_patients_are_called_forward_to_the_doors_shared_between_rooms(hall):
    labels = registered(hall, 6)
    doctors(hall, 1, 2)
    forwarded = hall.forward(at(9))
    assert [(t.label, t.target_counter) for t in forwarded] == [
        (labels[0], 1), (labels[1], 2), (labels[2], 1), (labels[3], 2)]
    assert hall.forward(at(9)) == []                   # two at each door: full
    assert hall.call_next(1, at(9, 1)).label == labels[0]
    assert [(t.label, t.target_counter) for t in hall.forward(at(9, 1))] == [(labels[4], 1)]
    hall.pause(2, at(9, 2))                            # a paused room gets nobody new
    assert hall.call_next(1, at(9, 3)).label == labels[2]
    assert [(t.label, t.target_counter) for t in hall.forward(at(9, 3))] == [(labels[5], 1)]


def test_a_patient_registered_to_a_doctor_is_called_by_that_doctor_only(hall):
    mine = registered(hall, 1, doctor="D02")[0]
    anyone = registered(hall, 1, minute=10)[0]
    doctors(hall, 1)
    assert hall.call_next(1, at(9)).label == anyone
    assert hall.call_next(1, at(9, 1)) is None         # D02's patient waits for D02
    doctors(hall, 2)
    assert hall.call_next(2, at(9, 2)).label == mine


def test_a_specialist_with_own_patients_only_never_calls_the_department_queue(hall):
    registered(hall, 2)
    own = registered(hall, 1, doctor="D03", minute=10)[0]
    doctors(hall, 3)                                   # D03: own_patients_only
    assert hall.call_next(3, at(9)).label == own
    assert hall.call_next(3, at(9, 1)) is None


def test_after_tests_the_patient_returns_to_the_same_doctor_ahead_of_new_patients(hall):
    labels = registered(hall, 4)
    doctors(hall, 1, 2, 11)
    sent = hall.call_next(1, at(9)).label
    hall.start(1, at(9, 1))
    lab = hall.transfer(1, at(9, 5), service="L")      # the doctor orders a blood test
    assert (lab.label, lab.service) == (sent, "L")
    assert hall.call_next(11, at(9, 10)).label == sent
    hall.finish(11, at(9, 20))                         # results: back to D01
    back = latest(hall, sent)
    assert (back.service, back.doctor, back.is_return, back.state) == \
        ("N", "D01", True, State.WAITING)
    assert hall.call_next(2, at(9, 21)).label == labels[1]    # D02 does not call D01's return
    assert hall.call_next(1, at(9, 22)).label == sent         # D01: the return first
    assert [e[0] for e in hall.db.execute("SELECT kind FROM events WHERE kind = 'return'")] == \
        ["return"]


def test_a_missed_number_checks_in_again_behind_three_patients(hall):
    labels = registered(hall, 6)
    doctors(hall, 1)
    missed = hall.call_next(1, at(9)).label
    hall.skip(1, at(9, 1))                             # 过号
    again = hall.check_in(missed, at(9, 5))
    assert again.state is State.WAITING
    assert [t.label for t in hall.waiting(at(9, 5))["N"]] == [*labels[1:4], missed, *labels[4:]]


def test_an_emergency_goes_first_and_other_lanes_before_the_ordinary_patients(hall):
    ordinary = registered(hall, 2)
    elderly = registered(hall, 1, lane="elderly", minute=10)[0]
    emergency = registered(hall, 1, lane="E", minute=20)[0]   # by the HIS's code
    assert [t.label for t in hall.waiting(at(9))["N"]] == [emergency, elderly, *ordinary]
    with pytest.raises(errors.NotInFlow):
        hall.register(at(9), "N", "P9", "李四", "V-x", lane="vip")
    assert hall.db.execute("SELECT COUNT(*) FROM patients WHERE visit = 'V-x'").fetchone()[0] == 0


def test_the_pharmacy_holds_a_prescription_not_collected_and_releases_it(hall):
    label = registered(hall, 1)[0]
    doctors(hall, 1, 31)
    hall.call_next(1, at(9))
    hall.finish(1, at(9, 10))
    assert hall.ready("VN0", at(10)).service == "P"    # the HIS: prescription ready
    assert hall.call_next(31, at(10, 1)).label == label
    for minute in (2, 3):
        hall.recall(31, at(10, minute))
    assert hall.recall(31, at(10, 4)).state is State.HELD     # not come after two recalls
    assert hall.call_next(31, at(10, 5)) is None
    assert hall.release(label, at(10, 30)).state is State.WAITING
    assert hall.call_next(31, at(10, 31)).label == label
    assert hall.finish(31, at(10, 32)).state is State.DONE


def test_ready_from_the_cashier_queue_moves_the_patient_and_refuses_one_at_a_counter(hall):
    label = registered(hall, 1)[0]
    doctors(hall, 1, 21)
    hall.call_next(1, at(9))
    hall.transfer(1, at(9, 10), service="K")
    hall.call_next(21, at(9, 11))
    with pytest.raises(errors.WrongState, match="at counter 21"):
        hall.ready("VN0", at(9, 12))
    hall.transfer(21, at(9, 13), service="P")
    with pytest.raises(errors.WrongState, match="pharmacy already"):
        hall.ready("VN0", at(9, 14))
    assert latest(hall, label).service == "P"
    with pytest.raises(errors.UnknownPatient):
        hall.ready("V-unknown", at(9, 15))


def test_the_flow_decides_where_a_patient_may_be_sent_and_by_whom(hall):
    registered(hall, 2)
    doctors(hall, 1)
    hall.call_next(1, at(9))
    with pytest.raises(errors.NotInFlow, match="from N to P"):
        hall.transfer(1, at(9, 1), service="P")        # N leads to L and K only
    waiting = hall.waiting(at(9))["N"][0].label
    with pytest.raises(errors.NotInFlow):
        hall.transfer_waiting(waiting, at(9, 2), "S")
    assert hall.transfer_waiting(waiting, at(9, 3), "L").service == "L"   # a nurse may


def test_a_patient_who_leaves_or_is_cancelled_by_the_his_is_out_of_the_queues(hall):
    first, second, third = registered(hall, 3)
    assert hall.leave(first, at(9)).state is State.CANCELLED
    assert hall.cancel_visit("VN1", at(9, 1)).state is State.CANCELLED
    doctors(hall, 1)
    assert hall.call_next(1, at(9, 2)).label == third
    with pytest.raises(errors.WrongState):
        hall.cancel_visit("VN2", at(9, 3))             # already with the doctor
    hall.book(at(9, 4), "N", "P7", "王五", "A-7", slot="202611231000")
    assert hall.cancel_visit("A-7", at(9, 5)) is None
    with pytest.raises(errors.UnknownTicket):
        hall.check_in("A-7", at(9, 6))


def test_a_booked_appointment_gets_its_number_at_check_in(hall):
    hall.book(at(7), "S", "P8", "赵六", "A-8", doctor="D04", slot="202611230900")
    assert hall.waiting(at(8))["S"] == []
    ticket = hall.check_in("A-8", at(8, 55))
    assert (ticket.label, ticket.doctor, ticket.state) == ("S001", "D04", State.WAITING)
    with pytest.raises(errors.WrongState):
        hall.book(at(9), "S", "P8", "赵六", "A-8")      # that visit exists


def test_an_his_message_is_applied_once_and_a_reused_control_id_is_refused(hall):
    def register(control, digest, visit):
        with hall.his_once("hl7:HIS", control, digest, at(8)) as fresh:
            if fresh:
                hall.register(at(8), "N", "P1", "张三", visit)

    register("MSG1", "d1", "V1")
    register("MSG1", "d1", "V1")                       # resent after a lost ACK: once
    assert hall.db.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] == 1
    with pytest.raises(errors.DuplicateMessage):
        register("MSG1", "d2", "V2")
    with pytest.raises(errors.UnknownService):         # refused: not recorded, may be resent
        with hall.his_once("hl7:HIS", "MSG2", "d3", at(8)):
            hall.register(at(8), "Q", "P2", "李四", "V3")
    register("MSG2", "d3", "V3")
    assert hall.db.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] == 2


def test_registered_and_held_patients_expire_with_their_day(hall):
    registered(hall, 1, check_in=False)
    held = registered(hall, 1, minute=10)[0]
    hall.hold(held, at(9))
    day, expired, _ = hall.turn_day(at(9, day=24))
    assert expired == 2


def test_a_reconfiguration_may_not_orphan_registered_patients(hall, db_path):
    from dataclasses import replace
    registered(hall, 1, service="S", check_in=False)
    fewer = replace(EXAMPLE, services=tuple(s for s in EXAMPLE.services if s.prefix != "S"))
    with pytest.raises(errors.ReconfigurationRefused):
        hall.check_reconfiguration(fewer, at(9))


def test_a_bank_without_stages_knows_no_hospital(db_path):
    from conftest import CONFIG
    bank = Hall(open_database(db_path), CONFIG)
    with pytest.raises(errors.NotInFlow):
        bank.register(at(8), "A", "P1", "张三", "V1")
    assert bank.forward(at(8)) == []


def test_a_patient_sent_on_joins_the_next_stage_at_its_back(hall):
    early, late = registered(hall, 2)
    doctors(hall, 1, 2, 11)
    hall.issue("L", at(9))                             # someone already waits at the lab
    hall.call_next(1, at(9, 1))
    hall.call_next(2, at(9, 2))
    hall.transfer(2, at(9, 3), service="L")            # `transfer L`, no "back": all the same
    hall.transfer(1, at(9, 4), service="L")
    assert [t.label for t in hall.waiting(at(9, 5))["L"]] == ["L001", late, early]
    assert latest(hall, early).queued_at == at(9, 4)   # its wait at the lab runs from now


def test_returns_at_their_place_come_back_where_they_were(db_path):
    from dataclasses import replace
    stages = tuple(replace(s, returns="place") if s.service == "N" else s
                   for s in EXAMPLE.hospital.stages)
    hall = Hall(open_database(db_path), replace(EXAMPLE, hospital=replace(
        EXAMPLE.hospital, stages=stages)))
    first, *others = registered(hall, 4)
    doctors(hall, 1, 11)
    hall.call_next(1, at(9))
    hall.transfer(1, at(9, 1), service="L")
    hall.call_next(11, at(9, 2))
    hall.finish(11, at(9, 3))
    assert [t.label for t in hall.waiting(at(9, 4))["N"]][:2] == [first, others[0]]


def test_a_ready_prescription_of_an_earlier_day_is_refused(hall):
    registered(hall, 1)
    hall.turn_day(at(8, day=24))
    with pytest.raises(errors.WrongState, match="not of today"):
        hall.ready("VN0", at(9, day=24))


def test_a_door_is_the_doctors_and_empties_when_they_leave(hall):
    """Patients at a room's door are called by the doctor they may be called by, and go back
    to the queue when the room closes; a nurse moves no one to another doctor's door."""
    general, own = registered(hall, 1)[0], registered(hall, 1, doctor="D01", minute=10)[0]
    doctors(hall, 1)
    assert {t.label for t in hall.forward(at(9))} == {general, own}
    hall.logout(1, at(9, 1))                           # shift change: the door empties
    assert [t.target_counter for t in hall.waiting(at(9, 1))["N"]] == [None, None]
    hall.login(1, at(9, 2), "D03", pin_ok=True)       # the specialist: own patients only
    assert hall.forward(at(9, 2)) == []
    assert hall.call_next(1, at(9, 3)) is None
    doctors(hall, 2)
    with pytest.raises(errors.WrongState, match="D02 at counter 2 does not call"):
        hall.send_to_room(own, at(9, 4), 2)
    hall.assign(own, at(9, 5), "D02")
    assert {t.label for t in hall.forward(at(9, 5))} == {general, own}
    assert {hall.call_next(2, at(9, 6)).label, hall.call_next(2, at(9, 7)).label} == \
        {general, own}


def test_emergencies_are_called_first_in_first_out(hall):
    registered(hall, 1)
    first = registered(hall, 1, lane="E", minute=10)[0]
    second = registered(hall, 1, lane="E", minute=20)[0]
    elderly = registered(hall, 1, lane="elderly", minute=30)[0]
    assert [t.label for t in hall.waiting(at(9))["N"]][:3] == [first, second, elderly]


def test_the_his_cannot_cancel_a_patient_who_has_been_seen(hall):
    label = registered(hall, 1)[0]
    doctors(hall, 1)
    hall.call_next(1, at(9))
    hall.transfer(1, at(9, 1), service="L")            # at the lab now, waiting
    with pytest.raises(errors.WrongState, match="has been seen"):
        hall.cancel_visit("VN0", at(9, 2))
    missed = registered(hall, 1, minute=10)[0]
    hall.call_next(1, at(9, 3))
    hall.skip(1, at(9, 4))                             # called, never came: not seen
    assert hall.cancel_visit("VN10", at(9, 5)).state is State.CANCELLED
    with pytest.raises(errors.UnknownPatient, match="another patient"):
        hall.ready("VN0", at(9, 6), patient="P999")
    assert latest(hall, label).service == "L" and latest(hall, missed).state is State.CANCELLED


def test_a_room_sends_a_patient_only_to_a_counter_of_the_stage_it_names(hall):
    registered(hall, 1)
    doctors(hall, 1)
    hall.call_next(1, at(9))
    with pytest.raises(errors.WrongState, match="counter 11 is not open"):
        hall.transfer(1, at(9, 1), service="L", to_counter=11)
    doctors(hall, 11)
    with pytest.raises(errors.NotInFlow, match="counter 4 does not serve N"):
        hall.transfer(1, at(9, 1), to_counter=4)       # surgery's room
    with pytest.raises(errors.NotInFlow, match="counter 11 does not serve N"):
        hall.transfer(1, at(9, 1), to_counter=11)
    assert hall.transfer(1, at(9, 2), service="L", to_counter=11).target_counter == 11


def test_a_patient_skipped_at_the_pharmacy_is_held(hall):
    label = registered(hall, 1)[0]
    doctors(hall, 1, 31)
    hall.call_next(1, at(9))
    hall.finish(1, at(9, 1))
    hall.ready("VN0", at(9, 2))
    hall.call_next(31, at(9, 3))
    assert hall.skip(31, at(9, 4)).state is State.HELD
    assert hall.release(label, at(9, 5)).state is State.WAITING


def test_a_reconfiguration_may_not_orphan_a_doctors_patients_or_the_triage(hall):
    from dataclasses import replace
    registered(hall, 1, doctor="D05")
    registered(hall, 1, check_in=False, minute=10)
    without_doctor = replace(EXAMPLE, tellers=tuple(t for t in EXAMPLE.tellers
                                                    if t.id != "D05"))
    with pytest.raises(errors.ReconfigurationRefused, match="doctor D05"):
        hall.check_reconfiguration(without_doctor, at(9))
    without_flow = replace(EXAMPLE, hospital=replace(EXAMPLE.hospital, stages=(), lanes=(),
                                                     pharmacy=None))
    with pytest.raises(errors.ReconfigurationRefused, match="wait for check-in"):
        hall.check_reconfiguration(without_flow, at(9))


def test_at_the_desk_a_number_of_today_comes_before_an_appointment_of_that_name(hall):
    label = registered(hall, 1, check_in=False)[0]
    hall.book(at(8), "N", "P5", "赵六", label)          # an HIS's appointment id "N001"
    assert (hall.check_in(label, at(9)).label, latest(hall, label).state) == \
        (label, State.WAITING)


def test_a_nurse_sends_a_patient_only_to_a_door_where_they_will_be_called(hall):
    mine, general = registered(hall, 1, doctor="D01")[0], registered(hall, 1, minute=10)[0]
    with pytest.raises(errors.WrongState, match="counter 2 is not open"):
        hall.send_to_room(general, at(9), 2)
    doctors(hall, 2, 3)
    with pytest.raises(errors.WrongState, match="D03 at counter 3 does not call"):
        hall.send_to_room(general, at(9, 1), 3)        # a specialist: own patients only
    with pytest.raises(errors.WrongState, match="D02 at counter 2 does not call"):
        hall.send_to_room(mine, at(9, 2), 2)
    assert hall.send_to_room(general, at(9, 3), 2).target_counter == 2


def test_sent_to_the_lab_by_a_nurse_a_patient_comes_back_to_their_place(hall):
    first, second = registered(hall, 2)
    doctors(hall, 11)
    hall.transfer_waiting(first, at(9), "L")           # blood taken before the doctor
    hall.call_next(11, at(9, 1))
    hall.finish(11, at(9, 10))
    assert [t.label for t in hall.waiting(at(9, 11))["N"]] == [first, second]


def test_a_doctor_no_longer_configured_leaves_an_empty_door(hall):
    from dataclasses import replace
    registered(hall, 2)
    doctors(hall, 1)
    assert len(hall.forward(at(9))) == 2
    hall.reconfigure(replace(EXAMPLE, tellers=tuple(t for t in EXAMPLE.tellers
                                                    if t.id != "D01")), at(9, 1))
    assert [t.target_counter for t in hall.waiting(at(9, 1))["N"]] == [None, None]

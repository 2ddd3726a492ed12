"""A hospital's figures on the back office's reports page (/reports, /api/reports): one
patient's day through the example's outpatient floor (the doctor, the lab and back, the
cashier, the pharmacy), read per department, per doctor and for the whole visit."""

import asyncio
import csv
import io
import time
from datetime import datetime, time as clock, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from browser import Hall, fill, needs_chromium, text_of, wait
from config import load_config
from office import PASSWORD, office
from queue_core import Hall as Queue, open_database, users
from queue_core.pins import hash_password

HOSPITAL = Path(__file__).resolve().parent.parent / "config" / "examples" / "hospital.toml"
ROOMS = {1: "D01", 11: "L01", 21: "K01", 31: "P01"}


def a_patient_s_day(folder: Path) -> str:
    """N001's visit, yesterday (the past whenever the test runs), made on the box's database
    before it starts: registered 8:00, checked in 8:05; Dr. Zhao calls them at 8:15 and sends
    them to the lab (8:16-8:26), which sends them back (8:30-8:40); called again at 8:42 and
    sent to the cashier (8:42-8:47; 8:50-8:52); the prescription ready at 9:00, collected at
    the pharmacy (9:05-9:10). The day (ISO)."""
    config = load_config(HOSPITAL).hall
    zone = ZoneInfo(config.time_zone)
    day = datetime.now(zone).date() - timedelta(days=1)

    def at(hour: int, minute: int) -> float:
        return datetime.combine(day, clock(hour, minute), zone).timestamp()

    db = open_database(folder / "queue.db")
    queue = Queue(db, config)

    def seen(room: int, called: tuple, started: tuple, ended: tuple, send_to=None) -> None:
        assert queue.call_next(room, at(*called)).label == "N001"
        queue.start(room, at(*started))
        if send_to:
            queue.transfer(room, at(*ended), service=send_to)
        else:
            queue.finish(room, at(*ended))

    queue.register(at(8, 0), "N", "P1001", "张三", "V1")
    queue.check_in("N001", at(8, 5))
    for room, teller in ROOMS.items():
        queue.login(room, at(8, 0), teller=teller, pin_ok=True)
    seen(1, (8, 15), (8, 16), (8, 26), send_to="L")
    seen(11, (8, 30), (8, 30), (8, 40))             # back to Dr. Zhao
    seen(1, (8, 42), (8, 42), (8, 47), send_to="K")
    seen(21, (8, 50), (8, 50), (8, 52))
    queue.ready("V1", at(9, 0))
    seen(31, (9, 5), (9, 5), (9, 10))
    db.close()
    return day.isoformat()


@needs_chromium
def test_a_hospital_manager_reads_a_day_by_department_doctor_and_visit(tmp_path, browser):
    day = a_patient_s_day(tmp_path)
    db = open_database(tmp_path / "queue.db")
    users.add_user(db, "sam", "supervisor", hash_password(PASSWORD), time.time())
    db.close()
    hall = Hall(tmp_path, config_path=HOSPITAL)
    try:
        browser.get(hall.url + "/sign-in")
        fill(browser, "#sign-in", name="sam", password=PASSWORD)
        wait(browser, lambda b: b.current_url.endswith("/monitor"))
        browser.get(hall.url + "/reports")
        fill(browser, "#days", days=day)
        text_of(browser, "#report h2", day)

        def row(css: str) -> list[str]:
            return [cell.text for cell in browser.find_elements("css selector", f"{css} td")]

        # waits 10 min from the check-in and 2 from the lab; consultations 10 and 5 min
        assert row("#stages tr[data-stage=N]") == [
            "N 内科 Internal medicine", "1", "2", "0 (0)", "0", "1", "6:00", "10:00", "7:30",
            "10:00"]
        assert row("#stages tr[data-stage=L]")[1:] == [
            "1", "1", "0 (0)", "0", "0", "4:00", "4:00", "10:00", "10:00"]
        assert row("#stages tr[data-stage=S]")[1:] == [
            "0", "0", "0 (0)", "0", "0", "–", "–", "–", "–"]
        assert row("#doctors tr[data-doctor=D01]") == [
            "D01 Dr. Zhao Lei", "1", "2", "0 (0)", "0", "1", "6:00", "10:00", "7:30", "10:00"]
        assert [r.get_attribute("data-doctor") for r in browser.find_elements(
            "css selector", "#doctors tr[data-doctor]")] == ["D01", "K01", "L01", "P01"]
        # 8:00 registered to 9:10 out of the pharmacy
        assert row("#visits") == ["1", "1", "0", "0", "70:00", "70:00", "70:00"]
        assert "张" not in browser.find_element("css selector", "#departments").text
        assert browser.find_element("css selector", "#hospital-csv").get_attribute(
            "href").endswith(f"/api/reports/hospital.csv?days={day}")

        browser.find_element("css selector", "#language").click()   # 中文 (today's report)
        text_of(browser, "#departments h2", "科室")
        text_of(browser, "#visits", "已取药")
        browser.find_element("css selector", "#language").click()
    finally:
        hall.close()


def test_the_report_api_carries_the_hospital_s_figures(tmp_path):
    day = a_patient_s_day(tmp_path)

    async def main():
        async with office(tmp_path, users=(), config_path=HOSPITAL) as (_, _, _, admin, _):
            status, report = await admin.call("GET", f"/api/reports?days={day}")
            status_csv, text = await admin.call("GET", f"/api/reports/hospital.csv?days={day}")
        return status, report, status_csv, text

    status, report, status_csv, text = asyncio.run(main())
    assert status == 200 and report["figures"]["service"]["N"]["issued"] == 1
    hospital = report["hospital"]
    assert list(hospital["stages"]) == ["N", "S", "L", "K", "P"]   # the flow's order
    assert hospital["stages"]["N"] == {
        "name_zh": "内科", "name_en": "Internal medicine", "patients": 1, "seen": 2,
        "missed": 0, "checked_in_again": 0, "left": 0, "returns": 1, "average_wait": 360.0,
        "longest_wait": 600.0, "average_consultation": 450.0, "longest_consultation": 600.0}
    assert {key: (d["name"], d["patients"], d["seen"], d["returns"])
            for key, d in hospital["doctors"].items()} == {
        "D01": ("Dr. Zhao Lei", 1, 2, 1), "K01": ("Zheng Hua (cashier)", 1, 1, 0),
        "L01": ("Wu Ping (lab)", 1, 1, 0), "P01": ("Chen Lu (pharmacy)", 1, 1, 0)}
    assert hospital["visits"] == {"patients": 1, "collected": 1, "left": 0, "open": 0,
                                  "average_stay": 4200.0, "median_stay": 4200.0,
                                  "longest_stay": 4200.0}

    assert status_csv == 200
    rows = {(r["by"], r["key"]): r for r in csv.DictReader(io.StringIO(text))}
    assert list(rows) == [("stage", s) for s in "NSLKP"] + [
        ("doctor", d) for d in ("D01", "K01", "L01", "P01")] + [("visits", "all")]
    assert (rows["stage", "N"]["from"], rows["stage", "N"]["to"]) == (day, day)
    assert (rows["stage", "N"]["returns"], rows["stage", "N"]["collected"]) == ("1", "")
    assert (rows["visits", "all"]["collected"], rows["visits", "all"]["average_stay"],
            rows["visits", "all"]["seen"]) == ("1", "4200.0", "")

"""The back office's API, as its pages and machine clients use it: roles, bad input, CSRF,
sessions, and every change going through the loop (the event names who made it)."""

import asyncio
import io
import json
import logging
import re
import socket
import time
import zipfile
from pathlib import Path

from aiohttp import ClientTimeout

from drivers.events import ButtonPressed
from firmware.signature import read_key
from firmware.stick import discard, export, read_bundle
from office import PASSWORD, Browser, new_setup_code, office, printed_setup_code
from rs485 import wait_for


def run(test):
    """Run `test(app, day, server, admin, client)` against a fresh office."""
    def runner(tmp_path):
        async def main():
            async with office(tmp_path) as parts:
                await test(*parts)
        asyncio.run(main())
    return runner


def labels(queue, service):
    return [t["label"] for t in queue["services"][service]]


async def teller_logs_in(browser):
    """T01 logs in at counter 1's virtual keypad."""
    return await browser.call("POST", "/api/keypads/1", {
        "key": "login", "words": ["T01", "1111"], "request": "login-000001"})


async def signed_in(client, name):
    browser = Browser(client)
    assert await browser.sign_in(name) == 200
    return browser


def test_nobody_gets_in_without_signing_in(tmp_path):
    async def test(app, day, server, admin, client):
        stranger = Browser(client)
        assert (await stranger.call("GET", "/api/monitor"))[0] == 401
        assert (await stranger.call("POST", "/api/tickets", {"service": "A"}))[0] == 401
        assert await stranger.sign_in("ada", "wrong password!") == 401
        assert await stranger.sign_in("nobody", PASSWORD) == 401
        status, me = await stranger.call("GET", "/api/me")
        assert status == 401 and me == {"signed_in": False, "setup": False}
        assert waiting(app) == 0
    run(test)(tmp_path)


def waiting(app):
    return sum(app.hall.status(time.time()).waiting.values())


def test_repeated_wrong_passwords_make_sign_in_wait(tmp_path):
    async def test(app, day, server, admin, client):
        stranger = Browser(client)
        for _ in range(3):
            assert await stranger.sign_in("sam", "not the password") == 401
        assert await stranger.sign_in("sam") == 429   # even the right one waits now
    run(test)(tmp_path)


def test_the_setup_code_works_once(tmp_path):
    async def test(app, day, server, admin, client):
        code = printed_setup_code(day.devices.printer.link.directory)
        status, data = await Browser(client).call("POST", "/api/setup", {
            "code": code, "name": "eve", "password": PASSWORD})
        assert status == 403 and "setup code" in data["error"]
        # A technician at the box: ada forgot her password.
        code = await new_setup_code(server, day.devices.printer.link.directory)
        status, _ = await Browser(client).call("POST", "/api/setup", {
            "code": code, "name": "ada", "password": "a new long password"})
        assert status == 200
        assert await Browser(client).sign_in("ada", "a new long password") == 200
        assert (await admin.call("GET", "/api/users"))[0] == 401   # her old session ended
    run(test)(tmp_path)


def test_each_role_sees_only_its_part(tmp_path):
    async def test(app, day, server, admin, client):
        sam, tia = await signed_in(client, "sam"), await signed_in(client, "tia")
        assert (await sam.call("GET", "/api/monitor"))[0] == 200
        assert (await sam.call("GET", "/api/users"))[0] == 403
        assert (await tia.call("GET", "/api/monitor"))[0] == 403
        assert (await tia.call("POST", "/api/tickets", {"service": "A"}))[0] == 403
        assert (await tia.call("GET", "/api/keypads/1"))[0] == 200
        status, data = await tia.call("POST", "/api/keypads/2",
                                      {"key": "call", "request": "r-12345678"})
        assert status == 403 and "counter 1" in data["error"]
    run(test)(tmp_path)


def test_a_change_without_the_page_s_origin_and_token_is_refused(tmp_path):
    async def test(app, day, server, admin, client):
        ticket = {"service": "A"}
        for headers in ({"Origin": "http://evil.example"}, {"X-CSRF-Token": "wrong"},
                        {"Origin": ""}):
            status, data = await admin.call("POST", "/api/tickets", ticket, headers=headers)
            assert status == 403, headers
        response = await client.post("/api/tickets", json=ticket)   # no Origin, no token
        assert response.status == 403
        assert waiting(app) == 0
        assert (await admin.call("POST", "/api/tickets", ticket))[0] == 201
    run(test)(tmp_path)


def test_bad_input_is_answered_and_changes_nothing(tmp_path):
    async def test(app, day, server, admin, client):
        await admin.call("POST", "/api/tickets", {"service": "A"})
        for path, body, status in (
                ("/api/tickets", {"service": 1}, 400),
                ("/api/tickets", {"service": "Z"}, 400),
                ("/api/tickets", {"service": "A", "vip": "yes"}, 400),
                ("/api/tickets", {"service": "A", "colour": "red"}, 400),
                ("/api/tickets", ["A"], 400),
                ("/api/tickets/A001/move", {"where": "sideways"}, 400),
                ("/api/tickets/A999/move", {"where": "up"}, 404),
                ("/api/tickets/" + "A" * 300 + "/cancel", {}, 400),
                ("/api/tickets/A001/explode", {}, 404),
                ("/api/services/Q/close", {}, 404),
                ("/api/counters/99/pause", {}, 404),
                ("/api/users", {"name": "x" * 40, "role": "admin", "password": PASSWORD}, 400),
                ("/api/users", {"name": "tom", "role": "teller", "password": PASSWORD}, 400),
                ("/api/users", {"name": "tom", "role": "admin", "password": "short"}, 400)):
            got, data = await admin.call("POST", path, body)
            assert got == status and data["error"], (path, body, got, data)
        status, data = await admin.call("POST", "/api/tickets", data=b"{not json",
                                        headers={"Content-Type": "application/json"})
        assert status == 400
        assert waiting(app) == 1
    run(test)(tmp_path)


def test_the_supervisor_adjusts_the_queue(tmp_path, caplog):
    async def test(app, day, server, admin, client):
        sam = await signed_in(client, "sam")
        for _ in range(4):
            assert (await sam.call("POST", "/api/tickets", {"service": "A"}))[0] == 201
        assert (await sam.call("POST", "/api/tickets/A004/move", {"where": "front"}))[0] == 200
        assert (await sam.call("POST", "/api/tickets/A001/move", {"where": "down"}))[0] == 200
        assert (await sam.call("POST", "/api/tickets/A003/cancel", {}))[0] == 200
        _, queue = await sam.call("GET", "/api/queue")
        assert labels(queue, "A") == ["A004", "A002", "A001"]
        assert (await sam.call("POST", "/api/tickets/A002/transfer", {"service": "B"}))[0] == 200
        status, data = await sam.call("POST", "/api/tickets/A003/cancel", {})   # cancelled
        assert status == 404 and data["display"] == "NO SUCH TICKET"
        who = {row[0] for row in app.hall.db.execute(
            "SELECT by_user FROM events WHERE kind IN ('move', 'cancel', 'transfer')")}
        assert who == {"sam"}
    run(test)(tmp_path)


def test_a_supervisor_finds_a_customer_s_ticket(tmp_path):
    async def test(app, day, server, admin, client):
        for _ in range(2):
            await admin.call("POST", "/api/tickets", {"service": "A"})
        await admin.call("POST", "/api/tickets/A002/transfer", {"service": "B"})
        status, visits = await admin.call("GET", "/api/tickets?label=a002&days=today")
        assert status == 200
        assert [(v["label"], v["service"], v["state"]) for v in visits] == [
            ("A002", "A", "transferred"), ("A002", "B", "waiting")]
        assert (await admin.call("GET", "/api/tickets?label=%27;--"))[0] == 400
    run(test)(tmp_path)


def test_a_closed_service_refuses_its_button_and_opens_again(tmp_path):
    async def test(app, day, server, admin, client):
        assert (await admin.call("POST", "/api/services/C/close", {}))[0] == 200
        app.inbox.post(ButtonPressed("C", time.time()))
        _, monitor = await admin.call("GET", "/api/monitor")
        await wait_for(lambda: day.devices.leds.states.get("C") == "on")
        c = next(s for s in monitor["services"] if s["prefix"] == "C")
        assert c["closed"] and c["waiting"] == 0
        assert (await admin.call("POST", "/api/services/C/open", {}))[0] == 200
        assert (await admin.call("POST", "/api/tickets", {"service": "C"}))[0] == 201
    run(test)(tmp_path)


def test_the_virtual_keypad_applies_a_key_once(tmp_path):
    async def test(app, day, server, admin, client):
        tia = await signed_in(client, "tia")
        await admin.call("POST", "/api/tickets", {"service": "A"})
        await admin.call("POST", "/api/tickets", {"service": "A"})
        _, data = await teller_logs_in(tia)
        assert data["text"].startswith("NO TICKET")
        call = {"key": "call", "request": "call-00000001"}
        _, data = await tia.call("POST", "/api/keypads/1", call)
        assert data["text"].startswith("A001 CALLED")
        _, again = await tia.call("POST", "/api/keypads/1", call)   # a retry: not applied
        assert again["text"].startswith("A001 CALLED")
        assert app.hall.db.execute(
            "SELECT COUNT(*) FROM events WHERE kind = 'call'").fetchone()[0] == 1
        _, data = await tia.call("POST", "/api/keypads/1", {
            "key": "login", "words": ["T01", "9999"], "request": "login-000002"})
        assert data["text"] == "LOGIN REFUSED"
    run(test)(tmp_path)


def test_pages_hear_every_committed_event_and_catch_up_after_a_break(tmp_path):
    async def test(app, day, server, admin, client):
        stream = await admin.raw("GET", "/api/events", timeout=ClientTimeout(total=10))
        assert stream.status == 200 and stream.content_type == "text/event-stream"
        await admin.call("POST", "/api/tickets", {"service": "B"})
        first = await read_event(stream, "issue")
        assert first["kind"] == "issue" and first["label"] == "B001"
        stream.close()
        await admin.call("POST", "/api/tickets", {"service": "B"})   # while away
        again = await admin.raw("GET", "/api/events", {"Last-Event-ID": str(first["id"])})
        missed = await read_event(again, "issue")
        assert missed["label"] == "B002" and missed["id"] > first["id"]
        again.close()
    run(test)(tmp_path)


async def read_event(stream, kind: str) -> dict:
    """The next event of `kind` on an event stream."""
    while True:
        line = (await asyncio.wait_for(stream.content.readline(), 5)).decode()
        if line.startswith("data: ") and (event := json.loads(line[6:]))["kind"] == kind:
            return event


def test_reports_csv_and_charts(tmp_path):
    async def test(app, day, server, admin, client):
        await admin.call("POST", "/api/tickets", {"service": "A"})
        status, report = await admin.call("GET", "/api/reports?days=today")
        assert status == 200 and report["figures"]["service"]["A"]["issued"] == 1
        assert report["hospital"] is None   # a bank: no departments
        status, text = await admin.call("GET", "/api/reports.csv?days=today")
        assert status == 200 and text.splitlines()[0].startswith("from,to,by,key,issued")
        assert (await admin.call("GET", "/api/reports/hospital.csv?days=today"))[0] == 404
        for name in ("hourly", "waits", "ratings"):
            response = await admin.raw("GET", f"/api/charts/{name}.svg?days=today")
            svg = await response.text()
            assert response.status == 200 and svg.lstrip().startswith("<svg"), name
            assert not re.search(r'(src|href)="(https?:)?//', svg), name   # nothing fetched
            assert "script-src" not in response.headers["Content-Security-Policy"]   # inert
        assert (await admin.call("GET", "/api/reports?days=yesterday-ish"))[0] == 400
    run(test)(tmp_path)


def test_a_machine_client_uses_a_token(tmp_path):
    async def test(app, day, server, admin, client):
        status, made = await admin.call("POST", "/api/tokens",
                                        {"label": "his", "role": "supervisor"})
        assert status == 201
        bearer = {"Authorization": f"Bearer {made['token']}"}
        response = await client.post("/api/tickets", json={"service": "A"}, headers=bearer)
        assert response.status == 201
        response = await client.get("/api/users", headers=bearer)
        assert response.status == 403
        response = await client.get("/api/monitor", headers={"Authorization": "Bearer nope"})
        assert response.status == 401
        assert app.hall.db.execute("SELECT by_user FROM events WHERE kind = 'issue'"
                                   ).fetchone()[0] == "token:his"
    run(test)(tmp_path)


def test_a_session_ends_when_idle(tmp_path):
    async def test(app, day, server, admin, client):
        server.sessions.idle = 0.2
        await asyncio.sleep(0.3)
        assert (await admin.call("GET", "/api/monitor"))[0] == 401
    run(test)(tmp_path)


def test_every_answer_keeps_the_page_to_the_box(tmp_path):
    async def test(app, day, server, admin, client):
        for path in ("/monitor", "/api/monitor", "/static/office.js", "/api/nothing"):
            response = await client.get(path)
            csp = response.headers["Content-Security-Policy"]
            assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
            assert response.headers["X-Content-Type-Options"] == "nosniff"
    run(test)(tmp_path)


def test_no_password_pin_or_code_reaches_the_log(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)

    async def test(app, day, server, admin, client):
        tia = await signed_in(client, "tia")
        await teller_logs_in(tia)
        await Browser(client).sign_in("sam", "guess number 1")
        code = await new_setup_code(server, day.devices.printer.link.directory)
        assert code not in caplog.text
    run(test)(tmp_path)
    for secret in (PASSWORD, "T01 1111", "'1111'", "guess number 1"):
        assert secret not in caplog.text


def test_the_admin_edits_the_configuration(tmp_path):
    async def test(app, day, server, admin, client):
        _, current = await admin.call("GET", "/api/config")
        text = current["text"]
        status, data = await admin.call("POST", "/api/config", {
            "text": text.replace("max_recalls = 2", "max_recalls = 12")})
        assert status == 400 and "max_recalls" in data["error"] and "0 to 9" in data["error"]
        assert app.hall.config.max_recalls == 2
        status, _ = await admin.call("POST", "/api/config", {
            "text": text.replace("max_recalls = 2", "max_recalls = 3")})
        assert status == 200 and app.hall.config.max_recalls == 3
        assert (tmp_path / "config.toml").read_text().count("max_recalls = 3") == 1
        response = await admin.raw("GET", "/api/config/stick.zip")
        assert response.status == 200
        stick = tmp_path / "stick"   # the zip unpacked on a stick: the box takes it
        zipfile.ZipFile(io.BytesIO(await response.read())).extractall(stick)
        bundle = read_bundle(stick, tmp_path, read_key(tmp_path))
        assert bundle.config.hall.max_recalls == 3
        discard(bundle)
        sam = await signed_in(client, "sam")
        assert (await sam.call("GET", "/api/config"))[0] == 403
    run(test)(tmp_path)


def test_a_port_in_use_is_reported_and_the_hall_goes_on(tmp_path):
    from config.office import OfficeConfig
    from firmware.office.server import OfficeServer
    from hallday import wire

    async def main():
        app, day = wire(tmp_path)
        running = asyncio.create_task(app.run())
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            server = OfficeServer(app, OfficeConfig(address="127.0.0.1", tls=False,
                                                    port=taken.getsockname()[1]))
            await server.start()
        app.inbox.post(ButtonPressed("A", time.time()))
        await wait_for(lambda: waiting(app) == 1)
        app.stop()
        await running
        day.devices.close()
        assert server.url is None
        assert "back office not started" in day.printed
    asyncio.run(main())


def test_an_export_to_a_stick_carries_no_credentials(tmp_path):
    async def test(app, day, server, admin, client):
        await admin.call("POST", "/api/tokens", {"label": "his", "role": "supervisor"})
        stick = tmp_path / "stick"
        stick.mkdir()
        folder = export(app.paths.database, stick, time.time(), app.hall.config, print)
        copy = (folder / "queue.db").read_bytes()
        hashes = [row[0] for row in app.hall.db.execute(
            "SELECT password FROM users UNION ALL SELECT token_hash FROM tokens")]
        assert len(hashes) == 4 and not any(h.encode() in copy for h in hashes)
    run(test)(tmp_path)


def test_counters_users_devices_and_signing_out(tmp_path):
    async def test(app, day, server, admin, client):
        tia = await signed_in(client, "tia")
        await teller_logs_in(tia)
        assert (await admin.call("POST", "/api/counters/1/pause", {}))[0] == 200
        _, monitor = await admin.call("GET", "/api/monitor")
        assert monitor["counters"][0]["paused"] and monitor["counters"][0]["teller"] == "T01"
        assert (await admin.call("POST", "/api/counters/1/resume", {}))[0] == 200
        assert (await admin.call("POST", "/api/counters/1/logout", {}))[0] == 200
        _, data = await tia.call("GET", "/api/keypads/1")
        assert data["text"].startswith("LOGGED OUT")
        await admin.call("POST", "/api/tickets", {"service": "A"})
        assert (await admin.call("POST", "/api/tickets/A001/prioritise", {}))[0] == 200
        _, queue = await admin.call("GET", "/api/queue")
        assert queue["services"]["A"][0]["vip"]
        status, devices = await admin.call("GET", "/api/devices")
        assert status == 200 and devices["printer"] == "ok"
        _, listed = await admin.call("GET", "/api/users")
        assert [u["name"] for u in listed] == ["ada", "sam", "tia"]
        assert (await admin.call("POST", "/api/users/tia/remove", {}))[0] == 200
        assert (await tia.call("GET", "/api/keypads/1"))[0] == 401   # her session ended
        status, data = await admin.call("POST", "/api/users/ada/remove", {})
        assert status == 400 and "admin" in data["error"]   # the last admin stays
        assert (await admin.call("POST", "/api/sign-out", {}))[0] == 200
        assert (await admin.call("GET", "/api/users"))[0] == 401
        who = {row[0] for row in app.hall.db.execute(
            "SELECT by_user FROM events WHERE kind IN ('pause', 'resume', 'logout', 'user')"
            " AND by_user IS NOT NULL")}
        assert who == {"ada", "setup:ada"}   # (the first admin was made with the setup code)
    run(test)(tmp_path)


def test_guesses_sent_at_once_wait_their_turn(tmp_path):
    """Each password is checked after the one before it has counted: a burst of guesses gets
    three answers, then waits, and the right password in it gets in no sooner."""
    async def test(app, day, server, admin, client):
        guesses = [f"wrong guess {n:03d}" for n in range(20)] + [PASSWORD]
        answers = await asyncio.gather(*(Browser(client).sign_in("sam", guess)
                                         for guess in guesses))
        assert answers.count(401) == 3 and answers[-1] == 429
    run(test)(tmp_path)


def test_a_teller_s_page_hears_that_something_changed_and_nothing_more(tmp_path):
    async def test(app, day, server, admin, client):
        tia = await signed_in(client, "tia")
        stream = await tia.raw("GET", "/api/events", timeout=ClientTimeout(total=10))
        await admin.call("POST", "/api/tickets", {"service": "C"})
        while not (line := (await asyncio.wait_for(stream.content.readline(), 5)).decode()
                   ).startswith("data: "):
            pass
        assert line.strip() == "data: {}"
        stream.close()
    run(test)(tmp_path)


def test_a_stream_ends_with_its_session(tmp_path):
    async def test(app, day, server, admin, client):
        sam = await signed_in(client, "sam")
        stream = await sam.raw("GET", "/api/events", timeout=ClientTimeout(total=10))
        assert (await admin.call("POST", "/api/users/sam/remove", {}))[0] == 200
        await admin.call("POST", "/api/tickets", {"service": "A"})
        rest = await asyncio.wait_for(stream.content.read(), 5)   # it ends: nothing of A001
        assert b"A001" not in rest
    run(test)(tmp_path)


def test_odd_event_ids_are_answered(tmp_path):
    async def test(app, day, server, admin, client):
        for sent, status in (("9" * 19, 400), ("-1", 400), ("abc", 400)):
            response = await admin.raw("GET", "/api/events", {"Last-Event-ID": sent})
            assert response.status == status, sent
        ahead = await admin.raw("GET", "/api/events", {"Last-Event-ID": "999999"})
        assert (await asyncio.wait_for(ahead.content.readline(), 5)) == b"event: reload\n"
        ahead.close()
    run(test)(tmp_path)


def test_the_virtual_keypad_and_the_configuration_name_their_user(tmp_path):
    async def test(app, day, server, admin, client):
        tia = await signed_in(client, "tia")
        await teller_logs_in(tia)
        _, current = await admin.call("GET", "/api/config")
        _, applied = await admin.call("POST", "/api/config", {"text": current["text"].replace(
            "session_minutes = 60", "session_minutes = 30")})
        assert applied == {"applied": True, "at_next_start": ["[office]"]}
        who = dict(app.hall.db.execute(
            "SELECT kind, by_user FROM events WHERE kind IN ('login', 'configure')"))
        assert who == {"login": "tia", "configure": "ada"}
    run(test)(tmp_path)


def test_a_certificate_that_cannot_load_is_refused(tmp_path):
    async def test(app, day, server, admin, client):
        (tmp_path / "cert.pem").write_text("not a certificate")
        _, current = await admin.call("GET", "/api/config")
        status, data = await admin.call("POST", "/api/config", {"text": current["text"].replace(
            "[office]", f'[office]\ncertificate = "{tmp_path}/cert.pem"\n'
                        f'key = "{tmp_path}/cert.pem"')})
        assert status == 400 and "cannot be loaded" in data["error"]
    run(test)(tmp_path)


def test_a_setup_code_makes_no_second_admin_and_resets_only_an_admin(tmp_path):
    async def test(app, day, server, admin, client):
        for name in ("mallory", "tia"):
            code = await new_setup_code(server, day.devices.printer.link.directory)
            status, _ = await Browser(client).call("POST", "/api/setup", {
                "code": code, "name": name, "password": "taken over at last"})
            assert status == 403, name
        assert await Browser(client).sign_in("tia") == 200   # her password stands
        _, listed = await admin.call("GET", "/api/users")
        assert "mallory" not in [u["name"] for u in listed]
    run(test)(tmp_path)


def test_requests_to_another_name_nested_json_and_weak_passwords_are_refused(tmp_path):
    async def test(app, day, server, admin, client):
        rebound = {"Host": "rebind.evil.example", "Origin": "http://rebind.evil.example"}
        status, _ = await admin.call("POST", "/api/sign-in",
                                     {"name": "ada", "password": PASSWORD}, headers=rebound)
        assert status == 421
        status, _ = await Browser(client).call("POST", "/api/sign-in", data=b"[" * 100_000,
                                               headers={"Content-Type": "application/json"})
        assert status == 400
        for name, password in (("tom", " " * 12), ("tom", "\0" * 12), ("ADA", PASSWORD),
                               ("..", PASSWORD)):
            status, data = await admin.call("POST", "/api/users", {
                "name": name, "role": "supervisor", "password": password})
            assert status == 400, (name, data)
    run(test)(tmp_path)


def test_a_revoked_token_is_refused(tmp_path):
    async def test(app, day, server, admin, client):
        _, made = await admin.call("POST", "/api/tokens", {"label": "his", "role": "supervisor"})
        _, tokens = await admin.call("GET", "/api/tokens")
        assert [(t["label"], t["role"]) for t in tokens] == [("his", "supervisor")]
        assert (await admin.call("POST", "/api/tokens/his/remove", {}))[0] == 200
        response = await client.get("/api/monitor",
                                    headers={"Authorization": f"Bearer {made['token']}"})
        assert response.status == 401
    run(test)(tmp_path)


def test_every_api_route_is_in_the_document(tmp_path):
    import yaml
    from config.office import OfficeConfig
    from firmware.office.server import OfficeServer
    from hallday import wire

    spec = yaml.safe_load((Path(__file__).parent.parent / "docs" / "office-api.yaml")
                          .read_text())["paths"]
    app, day = wire(tmp_path)
    routes = {(route.method.lower(), route.resource.canonical)
              for route in OfficeServer(app, OfficeConfig()).make_app().router.routes()
              if route.resource.canonical.startswith("/api/") and route.method != "HEAD"}
    day.devices.close()
    documented = {(method, path) for path, methods in spec.items() for method in methods}
    assert routes == documented

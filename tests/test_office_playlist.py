"""The playlist in the back office's API: what a hall manager may add (a text, an image, a
video), the files that are refused and why, the order, and every change logged with its user."""

import asyncio
import io
from pathlib import Path

from PIL import Image

from firmware.office import media
from office import Browser, office


def run(test):
    def runner(tmp_path):
        async def main():
            async with office(tmp_path) as parts:
                await test(tmp_path, *parts)
        asyncio.run(main())
    return runner


def png(size=(64, 36)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


async def upload(browser, data: bytes, query: str = "seconds=8"):
    return await browser.call("POST", f"/api/playlist/file?{query}", data=data,
                              headers={"Content-Type": "application/octet-stream"})


@run
async def test_a_manager_builds_the_playlist(tmp_path, app, day, server, admin, client):
    status, text = await admin.call("POST", "/api/playlist", {
        "text": "本周六照常营业 Open on Saturday", "seconds": 12, "days": "12345",
        "hours": "08:30-17:00"})
    assert status == 201
    status, image = await upload(admin, png())
    assert status == 201, image
    video = b"\x00\x00\x00\x18ftypmp42" + bytes(200)
    status, film = await upload(admin, video, "seconds=30&last_day=2026-12-31")
    assert status == 201, film
    status, _ = await admin.call("POST", f"/api/playlist/{film['id']}/move", {"position": 1})
    assert status == 200
    status, listed = await admin.call("GET", "/api/playlist")
    assert [(i["kind"], i["seconds"]) for i in listed] == \
        [("video", 30), ("text", 12), ("image", 8)]
    kept = sorted(p.name for p in (tmp_path / "media").iterdir())
    assert kept == sorted([listed[0]["file"], listed[2]["file"]])

    status, removed = await admin.call("POST", f"/api/playlist/{image['id']}/remove")
    assert status == 200 and not (tmp_path / "media" / removed["file"]).exists()
    logged = app.hall.db.execute("SELECT by_user FROM events WHERE kind = 'playlist'").fetchall()
    assert [r[0] for r in logged] == ["ada"] * 5


@run
async def test_files_that_cannot_be_shown_are_refused_and_kept_nowhere(
        tmp_path, app, day, server, admin, client):
    broken = png()[:60]
    for data, why in ((b"<svg onload=alert(1)>", "not a PNG"), (broken, "damaged"),
                      (b"GIF89a" + bytes(30), "damaged")):
        status, answer = await upload(admin, data)
        assert (status, why in answer["error"]) == (400, True), answer
    status, answer = await upload(admin, png(), "seconds=1")
    assert status == 400 and "seconds" in answer["error"]
    status, answer = await upload(admin, png(), "seconds=8&hours=18:00-08:00")
    assert status == 400 and "hours" in answer["error"]   # refused by the hall: file gone too
    assert list((tmp_path / "media").iterdir()) == []
    status, answer = await admin.call("POST", "/api/playlist", {"text": "a\u202eb",
                                                                "seconds": 5})
    assert status == 400


@run
async def test_uploads_at_the_same_time_each_keep_their_file(
        tmp_path, app, day, server, admin, client):
    pictures = [png((40 + n, 30)) for n in range(5)]
    answers = await asyncio.gather(*(upload(admin, data) for data in pictures))
    assert [status for status, _ in answers] == [201] * 5
    status, listed = await admin.call("GET", "/api/playlist")
    assert all((tmp_path / "media" / item["file"]).exists() for item in listed)
    assert len({item["file"] for item in listed}) == 5


@run
async def test_what_is_refused_says_why(tmp_path, app, day, server, admin, client):
    frames = [Image.new("RGB", (400, 300), (n * 20, 0, 0)) for n in range(10)]
    animation = io.BytesIO()
    frames[0].save(animation, "GIF", save_all=True, append_images=frames[1:])
    media.FRAME_PIXELS, kept = 1_000_000, media.FRAME_PIXELS   # (so as not to make 400 MP)
    try:
        status, answer = await upload(admin, animation.getvalue())
    finally:
        media.FRAME_PIXELS = kept
    assert status == 400 and "in all its frames" in answer["error"]
    bomb = io.BytesIO()
    Image.new("1", (20000, 10000)).save(bomb, "PNG")
    status, answer = await upload(admin, bomb.getvalue())
    assert status == 400 and "megapixels" in answer["error"]
    for query in ("seconds=\uff15", "seconds=5&seconds=600"):
        assert (await upload(admin, png(), query))[0] == 400
    assert (await admin.call("POST", "/api/playlist/\uff11/remove"))[0] == 400


@run
async def test_size_limits(tmp_path, app, day, server, admin, client):
    media.FILE_BYTES, kept = 1000, media.FILE_BYTES
    try:
        status, answer = await upload(admin, png((400, 400)))
        assert status == 413 and "MB at most" in answer["error"]
    finally:
        media.FILE_BYTES = kept
    assert list((tmp_path / "media").iterdir()) == []


@run
async def test_the_queue_keeps_its_room_on_the_data_partition(
        tmp_path, app, day, server, admin, client):
    media.RESERVE, kept = 1 << 60, media.RESERVE   # as if the partition were nearly full
    try:
        status, answer = await upload(admin, png())
        assert status == 400 and "free for the queue" in answer["error"]
    finally:
        media.RESERVE = kept
    assert list((tmp_path / "media").iterdir()) == []


@run
async def test_only_managers_edit_the_playlist(tmp_path, app, day, server, admin, client):
    stranger = Browser(client)
    assert (await stranger.call("GET", "/api/playlist"))[0] == 401
    assert (await upload(stranger, png()))[0] == 401
    teller = Browser(client)
    assert await teller.sign_in("tia") == 200
    assert (await teller.call("POST", "/api/playlist", {"text": "x", "seconds": 5}))[0] == 403
    assert not Path(tmp_path / "media").exists() or not list((tmp_path / "media").iterdir())

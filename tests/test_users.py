"""Back-office users and tokens: kept in the database, hashed, every change an event."""

import hashlib

import pytest

from conftest import at, dump
from queue_core import errors
from queue_core.pins import hash_password, hash_pin, password_matches
from queue_core.users import (User, add_token, add_user, has_admin, remove_token, remove_user,
                              set_password, token_role, user, users)

SECRET = "correct horse battery"


@pytest.fixture(scope="module")
def hashed():
    return hash_password(SECRET)


@pytest.fixture
def office(hall, hashed):
    """The first admin, a supervisor and the teller of counter 2."""
    db = hall.db
    add_user(db, "admin", "admin", hashed, at(8))
    add_user(db, "mei.supervisor", "supervisor", hashed, at(8, 1), by="admin")
    add_user(db, "li_na", "teller", hashed, at(8, 2), counter=2, by="admin")
    return db


def test_users_are_added_read_and_removed_each_with_an_event(office, hashed):
    assert has_admin(office)
    assert [u.name for u in users(office)] == ["admin", "li_na", "mei.supervisor"]
    assert user(office, "li_na") == User("li_na", "teller", 2, hashed)
    assert user(office, "nobody") is None
    remove_user(office, "mei.supervisor", at(9), by="admin")
    assert [u.name for u in users(office)] == ["admin", "li_na"]
    assert [tuple(r) for r in office.execute(
        "SELECT kind, detail, by_user, ticket_id, service FROM events ORDER BY id")] == [
        ("user", "added admin, admin", None, None, None),
        ("user", "added mei.supervisor, supervisor", "admin", None, None),
        ("user", "added li_na, teller at counter 2", "admin", None, None),
        ("user", "removed mei.supervisor", "admin", None, None)]


def test_a_new_password_replaces_the_old_and_no_secret_reaches_the_log(office, hashed):
    renewed = hash_password("another long passphrase")
    set_password(office, "li_na", renewed, at(9), by="li_na")
    stored = user(office, "li_na").password
    assert stored == renewed and password_matches(stored, "another long passphrase")
    assert not password_matches(stored, SECRET)
    assert office.execute("SELECT changed_at FROM users WHERE name = 'li_na'").fetchone()[0] == \
        at(9)
    log = " ".join(str(v) for row in office.execute("SELECT * FROM events") for v in row)
    assert "password of li_na changed" in log
    assert SECRET not in log and hashed not in log and renewed not in log


def test_the_last_admin_cannot_be_removed(office, hashed):
    with pytest.raises(errors.UserRefused, match="admin is the last admin"):
        remove_user(office, "admin", at(9))
    add_user(office, "deputy", "admin", hashed, at(9))
    remove_user(office, "admin", at(9, 1), by="deputy")
    assert has_admin(office) and [u.role for u in users(office)].count("admin") == 1


@pytest.mark.parametrize("what, change, message", [
    ("duplicate name", lambda db, h: add_user(db, "li_na", "supervisor", h, at(9)),
     "user 'li_na' exists already"),
    ("name with a space", lambda db, h: add_user(db, "li na", "admin", h, at(9)),
     "name must be 1 to 32 letters, digits"),
    ("name too long", lambda db, h: add_user(db, "x" * 33, "admin", h, at(9)),
     "name must be 1 to 32"),
    ("empty name", lambda db, h: add_user(db, "", "admin", h, at(9)), "name must be 1 to 32"),
    ("unknown role", lambda db, h: add_user(db, "wu", "root", h, at(9)), "no role 'root'"),
    ("teller without a counter", lambda db, h: add_user(db, "wu", "teller", h, at(9)),
     "a teller needs a counter"),
    ("supervisor with a counter", lambda db, h: add_user(db, "wu", "supervisor", h, at(9), 3),
     "only a teller has one"),
    ("counter that is no number", lambda db, h: add_user(db, "wu", "teller", h, at(9), "3"),
     "no counter '3'"),
    ("plain password", lambda db, h: add_user(db, "wu", "admin", SECRET, at(9)),
     "a password is kept as its hash"),
    ("password of nobody", lambda db, h: set_password(db, "wu", h, at(9)), "no user 'wu'"),
    ("removing nobody", lambda db, h: remove_user(db, "wu", at(9)), "no user 'wu'"),
    ("token with a bad label", lambda db, h: add_token(db, "a/b", "0" * 64, "admin", at(9)),
     "token's name must be"),
    ("token not hashed", lambda db, h: add_token(db, "kiosk", "secret", "admin", at(9)),
     "kept as its sha256"),
    ("token of no role", lambda db, h: add_token(db, "kiosk", "0" * 64, "boss", at(9)),
     "no role 'boss'"),
    ("removing no token", lambda db, h: remove_token(db, "kiosk", at(9)), "no token 'kiosk'"),
])
def test_a_refused_change_says_why_and_changes_nothing(hall, office, hashed, what, change,
                                                       message):
    before = dump(hall)
    with pytest.raises(errors.UserRefused, match=message) as refused:
        change(office, hashed)
    assert isinstance(refused.value, ValueError)
    assert dump(hall) == before


def test_a_token_gives_its_role_until_removed(office):
    token = "kiosk-token-1234567890"
    digest = hashlib.sha256(token.encode()).hexdigest()
    add_token(office, "kiosk", digest, "supervisor", at(9), by="admin")
    assert token_role(office, digest) == "supervisor"
    assert token_role(office, hashlib.sha256(b"guess").hexdigest()) is None
    with pytest.raises(errors.UserRefused, match="token 'kiosk' exists already"):
        add_token(office, "kiosk", "0" * 64, "admin", at(9, 1))
    with pytest.raises(errors.UserRefused, match="that token is in use already"):
        add_token(office, "kiosk2", digest, "admin", at(9, 1))
    remove_token(office, "kiosk", at(9, 2), by="admin")
    assert token_role(office, digest) is None
    assert [tuple(r) for r in office.execute(
        "SELECT kind, detail, by_user FROM events WHERE kind = 'token' ORDER BY id")] == [
        ("token", "added kiosk, supervisor", "admin"), ("token", "removed kiosk", "admin")]
    log = " ".join(str(v) for row in office.execute("SELECT * FROM events") for v in row)
    assert token not in log and digest not in log


def test_a_new_database_has_no_admin(hall):
    assert not has_admin(hall.db) and users(hall.db) == []


@pytest.mark.parametrize("typed", ["", "short", "correct horse battery ", None, 12345678901,
                                   b"correct horse battery", "x" * 10_000, "\ud800" * 12,
                                   "correct\x00horse battery"])
def test_any_typed_password_gets_an_answer_never_an_exception(hashed, typed):
    assert password_matches(hashed, typed) is False
    assert password_matches(None, typed) is False


def test_a_password_matches_its_own_hash_only(hashed):
    assert password_matches(hashed, SECRET)
    assert password_matches(hash_password("密码密码密码密码密码"), "密码密码密码密码密码")
    assert not password_matches(None, SECRET)                  # an unknown user
    assert not password_matches("md5:abc", SECRET)
    assert not password_matches(hash_pin("1234"), "1234")      # too short to be a password


@pytest.mark.parametrize("password", ["", "nine char", "x" * 129, None])
def test_a_password_too_short_or_too_long_is_refused(password):
    with pytest.raises(errors.UserRefused, match="a password must have 10 to 128 characters"):
        hash_password(password)

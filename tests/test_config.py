"""Configuration files: the shipped one loads; a bad one is refused with file, option and reason."""

import codecs
import os
import stat
import tracemalloc

import pytest

import config.load
from config import (DEFAULT, MAX_CONFIG_BYTES, ConfigError, load_config, load_or_keep,
                    parse_config, remember)
from queue_core.pins import hash_pin

GOOD = """
[hall]
name = "Branch"

[[service]]
prefix = "A"
name_en = "Personal"
name_zh = "个人"

[[counter]]
number = 1
name = "Counter 1"
services = ["A"]

[[teller]]
id = "T01"
name = "Li"
pin = "1234"
"""


def test_the_shipped_configuration_loads():
    config = load_config(DEFAULT).hall
    assert [s.prefix for s in config.services] == ["A", "B", "C"]
    assert [c.services for c in config.counters][:2] == [("A",), ("A", "B")]
    assert config.service("C").daily_cap == 120


def test_defaults_fill_optional_options(tmp_path):
    path = tmp_path / "hall.toml"
    path.write_text(GOOD)
    config = load_config(path).hall
    assert (config.max_recalls, config.name_zh) == (2, "")
    assert (config.services[0].first, config.services[0].last) == (1, 999)
    assert (config.services[0].alarm_wait, config.services[0].alarm_queue) == (None, None)


def test_plain_http_is_for_loopback_or_said_outright(tmp_path):
    path = tmp_path / "hall.toml"
    for office in ('address = "127.0.0.1"\ntls = false',
                   'tls = false\nplain_http_on_lan = true'):
        path.write_text(GOOD + f"\n[office]\n{office}\n")
        assert not load_config(path).office.tls


def test_a_service_carries_its_standards_for_the_monitor(tmp_path):
    path = tmp_path / "hall.toml"
    path.write_text(GOOD.replace('prefix = "A"', 'prefix = "A"\nalarm_wait = 20\nalarm_queue = 30'))
    service = load_config(path).hall.services[0]
    assert (service.alarm_wait, service.alarm_queue) == (20, 30)


def test_a_counter_may_be_a_window_a_room_or_a_table(tmp_path):
    path = tmp_path / "hall.toml"
    path.write_text(GOOD)
    assert load_config(path).hall.counters[0].kind == "counter"
    for kind in ("counter", "window", "room", "table"):
        path.write_text(GOOD.replace('services = ["A"]', f'services = ["A"]\nkind = "{kind}"'))
        assert load_config(path).hall.counters[0].kind == kind


BAD = [
    ("unknown option", ("prefix = \"A\"", "prefix = \"A\"\nprefx = \"B\""),
     "[[service]] #1, option 'prefx' is not a valid option (did you mean 'prefix'?)"),
    ("unknown section", ("[hall]", "[halls]\nx = 1\n[hall]"), "option 'halls' is not a valid"),
    ("missing option", ("name_en = \"Personal\"\n", ""),
     "[[service]] #1, option 'name_en' is required"),
    ("wrong type", ("number = 1", "number = \"1\""),
     "[[counter]] #1, option 'number' must be int, got '1'"),
    ("bad prefix", ("prefix = \"A\"", "prefix = \"a\""), "must be one capital letter"),
    ("bad range", ("name_zh = \"个人\"", "name_zh = \"个人\"\nnumbers = [10, 5]"),
     "option 'numbers' must be [first, last]"),
    ("unknown counter kind", ("services = [\"A\"]", "services = [\"A\"]\nkind = \"office\""),
     "[[counter]] #1, option 'kind' must be \"counter\", \"window\", \"room\" or \"table\","
     " got 'office'"),
    ("counter kind in capitals", ("services = [\"A\"]", "services = [\"A\"]\nkind = \"Room\""),
     "[[counter]] #1, option 'kind' must be \"counter\", \"window\", \"room\" or \"table\","
     " got 'Room'"),
    ("counter kind in Chinese", ("services = [\"A\"]", "services = [\"A\"]\nkind = \"诊室\""),
     "[[counter]] #1, option 'kind' must be \"counter\""),
    ("counter kind as a list", ("services = [\"A\"]", "services = [\"A\"]\nkind = [\"room\"]"),
     "[[counter]] #1, option 'kind' must be str, got ['room']"),
    ("misspelt counter kind", ("services = [\"A\"]", "services = [\"A\"]\nkinds = \"room\""),
     "[[counter]] #1, option 'kinds' is not a valid option (did you mean 'kind'?)"),
    ("unknown service at a counter", ("services = [\"A\"]", "services = [\"A\", \"Q\"]"),
     "[[counter]] 1, option 'services': no service 'Q'"),
    ("pin as a number", ("pin = \"1234\"", "pin = 1234"), "option 'pin' must be str"),
    ("short pin", ("pin = \"1234\"", "pin = \"12\""), "must be a string of 4 to 8 digits"),
    ("duplicate teller", ("[[teller]]", "[[teller]]\nid = \"T01\"\nname = \"X\"\npin = \"1111\"\n"
                          "[[teller]]"), "[[teller]] 'T01' is defined twice"),
    ("not toml", ("[hall]", "[hall"), "cannot read"),
    ("one port for two devices", ("[hall]", "[hardware.printer]\ndevice = \"/dev/ttyS0\"\n"
                                            "[hardware.keypads]\nport = \"/dev/ttyS0\"\n"
                                            "counters = [1]\n[hall]"),
     "/dev/ttyS0 is used by both the printer and the keypads"),
    ("keypad for no counter", ("[hall]", "[hardware.keypads]\ncounters = [7]\n[hall]"),
     "option 'counters' must list configured counters"),
    ("qr template", ("[hall]", "[ticket]\nqr = \"{number}\"\n[hall]"),
     "[ticket], option 'qr' may use only {day}, {label} and {service}"),
    ("misspelt required option", ("prefix = \"A\"", "prefx = \"A\""),
     "[[service]] #1, option 'prefx' is not a valid option (did you mean 'prefix'?)"),
    ("list in the keypads' counters", ("[hall]", "[hardware.keypads]\ncounters = [[1]]\n[hall]"),
     "[hardware.keypads], option 'counters' must be a list of int, got [[1]]"),
    ("list in the languages", ("[hall]", "[hardware.audio]\nlanguages = [[\"zh\"]]\n[hall]"),
     "[hardware.audio], option 'languages' must be a list of str, got [['zh']]"),
    ("arrays nested 10 000 deep", ("[hall]", "[hall]\nx = " + "[" * 10000 + "]" * 10000),
     "cannot read: arrays or tables nested too deeply"),
    ("a number of 5000 digits", ("[hall]", "[hall]\nmax_recalls = " + "9" * 5000),
     "cannot read: "),
    ("a hexadecimal number too long to write", ("[hall]", "[hall]\nmax_recalls = 0x" + "f" * 5000),
     "[hall], option 'max_recalls' must be 0 to 9, got a number too large to show"),
    ("escape in a Chinese name", ("name_zh = \"个人\"", "name_zh = \"个\\u001b人\""),
     "[[service]] #1, option 'name_zh' contains the control or invisible character U+001B"),
    ("bidi override in the hall's name", ("name = \"Branch\"", "name = \"\\u202eBranch\""),
     "[hall], option 'name' contains the control or invisible character U+202E"),
    ("zero-width space in a counter's name", ("name = \"Counter 1\"", "name = \"Counter\\u200b1\""),
     "[[counter]] #1, option 'name' contains the control or invisible character U+200B"),
    ("line separator in a service's name", ("name_en = \"Personal\"", "name_en = \"a\\u2028b\""),
     "option 'name_en' contains the control or invisible character U+2028"),
    ("paper cut in a footer", ("[hall]", "[ticket]\nfooter = [\"Bye\\u001dV\\u0000\"]\n[hall]"),
     "[ticket], option 'footer' contains the control or invisible character U+001D"),
    ("long name", ("name = \"Li\"", "name = \"" + "x" * 41 + "\""),
     "[[teller]] #1, option 'name' must be at most 40 characters, got 41"),
    ("five header lines", ("[hall]", "[ticket]\nheader = [\"1\", \"2\", \"3\", \"4\", \"5\"]\n"
                                     "[hall]"),
     "[ticket], option 'header' must have at most 4 lines"),
    ("long header line", ("[hall]", "[ticket]\nheader = [\"" + "x" * 49 + "\"]\n[hall]"),
     "[ticket], option 'header' must be at most 48 characters, got 49"),
    ("number as a header line", ("[hall]", "[ticket]\nheader = [1]\n[hall]"),
     "[ticket], option 'header' must be a list of str, got [1]"),
    ("long qr template", ("[hall]", "[ticket]\nqr = \"" + "x" * 201 + "\"\n[hall]"),
     "[ticket], option 'qr' must be at most 200 characters"),
    ("qr text too long", ("[hall]", "[ticket]\nqr = \"" + "码" * 67 + "{label}\"\n[hall]"),
     "[ticket], option 'qr' makes a QR text of 206 bytes, more than 200"),
    ("printer on the database", ("[hall]", "[hardware.printer]\ndevice ="
                                           " \"/var/lib/queue-appliance/queue.db\"\n[hall]"),
     "[hardware.printer], option 'device' must be /dev/usb/lp<n> or a serial port: /dev/ttyUSB<n>,"
     " /dev/ttyACM<n>, /dev/ttyS<n> or /dev/ttyAMA<n>, got '/var/lib/queue-appliance/queue.db'"),
    ("keypads on the printer", ("[hall]", "[hardware.keypads]\nport = \"/dev/usb/lp0\"\n[hall]"),
     "[hardware.keypads], option 'port' must be a serial port: /dev/ttyUSB<n>, /dev/ttyACM<n>,"
     " /dev/ttyS<n> or /dev/ttyAMA<n>, got '/dev/usb/lp0'"),
    ("malformed pin hash", ("pin = \"1234\"", "pin = \"scrypt:16384:8:1:00:00\""),
     "option 'pin' must be a string of 4 to 8 digits (or a PIN hash"),
    ("inline table as a name", ("name = \"Branch\"", "name = { en = \"Branch\" }"),
     "[hall], option 'name' must be str, got {'en': 'Branch'}"),
    ("no wait at all", ("prefix = \"A\"", "prefix = \"A\"\nalarm_wait = 0"),
     "[[service]] #1, option 'alarm_wait' must be 1 to 600 minutes, got 0"),
    ("a wait in hours", ("prefix = \"A\"", "prefix = \"A\"\nalarm_wait = \"1h\""),
     "[[service]] #1, option 'alarm_wait' must be int, got '1h'"),
    ("a queue of none", ("prefix = \"A\"", "prefix = \"A\"\nalarm_queue = -3"),
     "[[service]] #1, option 'alarm_queue' must be 1 to 9999 tickets, got -3"),
    ("misspelt standard", ("prefix = \"A\"", "prefix = \"A\"\nalarm_waiting = 20"),
     "option 'alarm_waiting' is not a valid option (did you mean 'alarm_wait'?)"),
    ("passwords in clear on the LAN", ("[hall]", "[office]\ntls = false\n[hall]"),
     "[office], option 'tls' false serves passwords in clear on the LAN: set"
     " plain_http_on_lan = true to mean it, or keep tls"),
    ("a certificate without its key", ("[hall]", "[office]\ncertificate = \"/etc/c.pem\"\n"
                                                 "[hall]"),
     "[office], option 'certificate' and key go together"),
    ("a privileged port", ("[hall]", "[office]\nport = 443\n[hall]"),
     "[office], option 'port' must be 1024 to 65535, got 443"),
    ("a host name for an address", ("[hall]", "[office]\naddress = \"box.local\"\n[hall]"),
     "[office], option 'address' must be an IPv4 or IPv6 address"),
]


@pytest.mark.parametrize("what, edit, message", BAD, ids=[b[0] for b in BAD])
def test_an_invalid_file_names_file_option_and_reason(tmp_path, what, edit, message):
    path = tmp_path / "hall.toml"
    path.write_text(GOOD.replace(*edit, 1))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


QR_REFUSED = ["{label.x}", "{label:>99999999}", "{0}", "{}", "{label!r}", "{label[0]}",
              "{day", "}", "{label:{day}}"]


@pytest.mark.parametrize("template", QR_REFUSED)
def test_a_qr_template_may_use_its_three_fields_only_as_they_are(tmp_path, template):
    path = tmp_path / "hall.toml"
    path.write_text(GOOD + f"[ticket]\nqr = {template!r}\n")
    with pytest.raises(ConfigError, match=r"\[ticket\], option 'qr' may use only \{day\}, \{label\}"
                                          r" and \{service\}, as they are"):
        load_config(path)


def test_a_qr_template_with_literal_braces_and_all_fields_loads(tmp_path):
    path = tmp_path / "hall.toml"
    qr = "https://bank.example/q/{day}/{service}/{label}?{{x}}"
    path.write_text(GOOD + f"[ticket]\nqr = {qr!r}\n")
    assert load_config(path).ticket.qr == qr


@pytest.mark.parametrize("device", ["/dev/usb/lp0", "/dev/ttyUSB1", "/dev/ttyACM0", "/dev/ttyS0",
                                    "/dev/ttyAMA10"])
def test_a_printer_is_a_printer_or_a_serial_device(tmp_path, device):
    path = tmp_path / "hall.toml"
    path.write_text(GOOD + f"[hardware.printer]\ndevice = {device!r}\n")
    assert load_config(path).hardware.printer.device == device


@pytest.mark.parametrize("port", ["/dev/ttyUSB0", "/dev/ttyACM2", "/dev/ttyS1", "/dev/ttyAMA0"])
def test_the_keypads_are_on_a_serial_port(tmp_path, port):
    path = tmp_path / "hall.toml"
    path.write_text(GOOD + f"[hardware.keypads]\nport = {port!r}\n")
    assert load_config(path).hardware.keypads.port == port


def test_a_teller_pin_may_be_a_hash(tmp_path):
    path = tmp_path / "hall.toml"
    pin = hash_pin("1234", bytes(16))
    path.write_text(GOOD.replace("pin = \"1234\"", f"pin = {pin!r}"))
    assert load_config(path).hall.tellers[0].pin == pin


@pytest.mark.parametrize("written", ["58135813", '"5813 "', '"581"', '"123456789"',
                                     '["5813"]', '"scrypt:65536:8:1:' + "0" * 32 + ":" + "0" * 64
                                     + '"'])
def test_a_pin_written_wrong_is_refused_without_showing_it(tmp_path, written):
    path = tmp_path / "hall.toml"
    path.write_text(GOOD.replace("pin = \"1234\"", f"pin = {written}"))
    with pytest.raises(ConfigError, match="option 'pin' must be") as refused:
        load_config(path)
    assert "5813" not in str(refused.value) and "123456789" not in str(refused.value)
    assert "0" * 32 not in str(refused.value)   # nor a hash the box will not check


def test_a_teller_who_could_never_log_in_at_a_keypad_is_refused(tmp_path):
    path = tmp_path / "hall.toml"
    path.write_text(GOOD.replace('id = "T01"', 'id = "TELLER01"').replace('pin = "1234"',
                                                                          'pin = "12345678"'))
    with pytest.raises(ConfigError, match="must fit a keypad's 16 characters") as refused:
        load_config(path)
    assert "12345678" not in str(refused.value)


def test_parse_config_checks_bytes_and_keeps_exactly_those(tmp_path):
    data = GOOD.encode()
    config = parse_config(data, "stick:queue-config.toml")
    assert config.data == data and "data" not in repr(config)
    assert parse_config(data + b"# another file, the same configuration\n", "x") == config
    with pytest.raises(ConfigError, match=r"^stick:queue-config.toml: \[hall\], option 'name'"
                                          r" must be str, got 3$"):
        parse_config(b"[hall]\nname = 3\n", "stick:queue-config.toml")
    path = tmp_path / "hall.toml"
    path.write_bytes(data)
    assert load_config(path).data == data


def test_a_file_at_the_size_limit_loads_and_one_byte_more_is_refused(tmp_path):
    path = tmp_path / "hall.toml"
    padded = GOOD.encode() + b"#" * (MAX_CONFIG_BYTES - len(GOOD.encode()))
    path.write_bytes(padded)
    assert load_config(path).data == padded
    path.write_bytes(padded + b"\n")
    with pytest.raises(ConfigError, match=f"^{path}: cannot read: the file has 262145 bytes, more"
                                          " than the limit of 262144 bytes$"):
        load_config(path)
    with pytest.raises(ConfigError, match="^stick: cannot read: the file has 262145 bytes"):
        parse_config(padded + b"\n", "stick")


def test_a_huge_file_is_refused_without_being_read(tmp_path):
    path = tmp_path / "hall.toml"
    with open(path, "wb") as f:
        f.truncate(2 << 30)   # 2 GiB, sparse: they take no disk
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(caught.value) == (f"{path}: cannot read: the file has 2147483648 bytes, more than"
                                 " the limit of 262144 bytes")
    assert peak < MAX_CONFIG_BYTES


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    path = tmp_path / "hall.toml"
    os.mkfifo(path)
    with pytest.raises(ConfigError, match=f"^{path}: cannot read: it is not a regular file$"):
        load_config(path)


def test_a_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=f"^{tmp_path / 'hall.toml'}: cannot read: .*No such"):
        load_config(tmp_path / "hall.toml")


def test_a_file_saved_by_notepad_with_a_byte_order_mark_loads(tmp_path):
    path = tmp_path / "hall.toml"
    path.write_bytes(codecs.BOM_UTF8 + GOOD.encode())
    config = load_config(path)
    assert config.hall.services[0].name_zh == "个人"
    assert config.data == codecs.BOM_UTF8 + GOOD.encode()


def test_a_file_that_is_not_utf8_is_refused_saying_how_to_save_it(tmp_path):
    path = tmp_path / "hall.toml"
    path.write_bytes(GOOD.encode("gb18030"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (f"{path}: cannot read: the file is not UTF-8 text (line 8);"
                                 " save it as UTF-8")


def test_a_valid_file_is_run_on_and_nothing_is_written(tmp_path):
    path, keep = tmp_path / "hall.toml", tmp_path / "data" / "last-valid.toml"
    path.write_text(GOOD)
    config, note = load_or_keep(path, keep)
    assert (config.hall.name, config.data, note) == ("Branch", GOOD.encode(), None)
    assert not keep.parent.exists()


def test_an_invalid_file_runs_on_the_last_valid_one(tmp_path):
    path, keep = tmp_path / "hall.toml", tmp_path / "data" / "last-valid.toml"
    remember(GOOD.encode(), keep)
    path.write_text(GOOD.replace("pin = \"1234\"", "pin = 1234"))
    config, note = load_or_keep(path, keep)
    assert (config.hall.tellers[0].pin, config.data) == ("1234", GOOD.encode())
    assert note == (f"{path}: [[teller]] #1, option 'pin' must be str; running on the last"
                    " valid configuration")
    assert keep.read_text() == GOOD


def test_an_invalid_file_with_nothing_to_fall_back_on_runs_on_the_shipped_default(tmp_path):
    path = tmp_path / "hall.toml"
    path.write_text("[hall]\nname = 3\n")
    config, note = load_or_keep(path, tmp_path / "last-valid.toml")
    assert config == load_config(DEFAULT) and config.data == DEFAULT.read_bytes()
    assert note == (f"{path}: [hall], option 'name' must be str, got 3; running on the shipped"
                    " default configuration")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hall.toml"]


def test_an_invalid_last_valid_file_falls_back_to_the_shipped_default(tmp_path):
    path, keep = tmp_path / "hall.toml", tmp_path / "last-valid.toml"
    path.write_text("[hall]\nname = 3\n")
    keep.write_bytes(b"\xff")
    config, note = load_or_keep(path, keep)
    assert config == load_config(DEFAULT)
    assert note == (f"{path}: [hall], option 'name' must be str, got 3; {keep}: cannot read: the"
                    " file is not UTF-8 text (line 1); save it as UTF-8; running on the shipped"
                    " default configuration")


def test_only_an_invalid_shipped_default_is_an_error(tmp_path, monkeypatch):
    path, broken = tmp_path / "hall.toml", tmp_path / "default.toml"
    path.write_text("[hall]\nname = 3\n")
    broken.write_text("[hall]\nname = 4\n")
    monkeypatch.setattr(config.load, "DEFAULT", broken)
    with pytest.raises(ConfigError, match=f"^{path}: .* got 3; {broken}: .* got 4$"):
        load_or_keep(path, tmp_path / "last-valid.toml")


def test_remember_syncs_the_file_then_its_folder(tmp_path, monkeypatch):
    target = tmp_path / "data" / "last-valid.toml"
    synced = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(stat.S_IFMT(os.fstat(fd).st_mode)))
    remember(b"one", target)
    remember(b"two", target)
    assert target.read_bytes() == b"two"
    assert synced == [stat.S_IFREG, stat.S_IFDIR] * 2
    assert [p.name for p in target.parent.iterdir()] == ["last-valid.toml"]


def test_remember_skips_bytes_the_target_already_holds(tmp_path):
    target = tmp_path / "last-valid.toml"
    remember(b"same", target)
    before = target.stat()
    remember(b"same", target)
    assert (target.stat().st_ino, target.stat().st_mtime_ns) == (before.st_ino,
                                                                 before.st_mtime_ns)


def test_remember_leaves_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "last-valid.toml"
    remember(b"old", target)

    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OSError):
        remember(b"new", target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["last-valid.toml"]


def test_an_error_in_a_nested_table_names_its_whole_path(tmp_path):
    path = tmp_path / "hall.toml"
    path.write_text(GOOD + "\n[hardware.printer]\nwidht = 512\n")
    with pytest.raises(ConfigError, match=r"\[hardware.printer\], option 'widht' is not a valid"
                                          r" option \(did you mean 'width'\?\)"):
        load_config(path)

"""Configuration files: the shipped one loads; a bad one is refused with file, option and reason."""

import pytest

from config import DEFAULT, ConfigError, load_config, load_or_keep

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
]


@pytest.mark.parametrize("what, edit, message", BAD, ids=[b[0] for b in BAD])
def test_an_invalid_file_names_file_option_and_reason(tmp_path, what, edit, message):
    path = tmp_path / "hall.toml"
    path.write_text(GOOD.replace(*edit, 1))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_an_invalid_file_never_replaces_the_last_valid_one(tmp_path):
    path, keep = tmp_path / "hall.toml", tmp_path / "data" / "last-valid.toml"
    path.write_text(GOOD)
    assert load_or_keep(path, keep).hall.name == "Branch"
    path.write_text(GOOD.replace("pin = \"1234\"", "pin = 1234"))
    assert load_or_keep(path, keep).hall.tellers[0].pin == "1234"
    assert keep.read_text() == GOOD


def test_an_invalid_file_with_nothing_to_fall_back_on_is_an_error(tmp_path):
    path = tmp_path / "hall.toml"
    path.write_text("[hall]\nname = 3\n")
    with pytest.raises(ConfigError, match="option 'name' must be str"):
        load_or_keep(path, tmp_path / "last-valid.toml")


def test_an_error_in_a_nested_table_names_its_whole_path(tmp_path):
    path = tmp_path / "hall.toml"
    path.write_text(GOOD + "\n[hardware.printer]\nwidht = 512\n")
    with pytest.raises(ConfigError, match=r"\[hardware.printer\], option 'widht' is not a valid"
                                          r" option \(did you mean 'width'\?\)"):
        load_config(path)

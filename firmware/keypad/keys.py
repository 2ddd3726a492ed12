"""The keypad's keys: the matrix's layout, the key codes of docs/keypad.md, and debouncing."""

try:
    from time import ticks_diff
except ImportError:   # CPython: plain integers
    def ticks_diff(a, b):
        return a - b

LAYOUT = (   # rows of the 5x6 matrix; row 4 is the customer's evaluation keys, on a cable
    ("1", "2", "3", "CALL", "RECALL", "START"),
    ("4", "5", "6", "SKIP", "FINISH", "TRANSFER"),
    ("7", "8", "9", "PAUSE", "RESUME", "LOGIN"),
    ("ABC", "0", "CLEAR", "OK", "LOGOUT", None),
    ("VERY_SATISFIED", "SATISFIED", "DISSATISFIED", None, None, None),
)

CODES = {"CALL": 1, "RECALL": 2, "START": 3, "SKIP": 4, "FINISH": 5, "TRANSFER": 6,
         "PAUSE": 7, "RESUME": 8, "LOGIN": 9, "LOGOUT": 10,
         "VERY_SATISFIED": 11, "SATISFIED": 12, "DISSATISFIED": 13}
RATINGS = ("VERY_SATISFIED", "SATISFIED", "DISSATISFIED")


class Debounce:
    """A key counts as pressed once it has read down, alone, for `settle` ms; it is reported
    once, and again only after it has read up as long."""

    def __init__(self, settle=20):
        self.settle = settle
        self.reading = None    # what the last scan read
        self.since = 0         # when it started reading so
        self.stable = None     # the key last taken as down (None: all up)

    def update(self, key, now):
        """One scan's reading (the key down, or None) at `now` ms: the key newly pressed, or
        None."""
        if key != self.reading:
            self.reading, self.since = key, now
            return None
        if key == self.stable or ticks_diff(now, self.since) < self.settle:
            return None
        self.stable = key
        return key

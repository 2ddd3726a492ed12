"""What the teller types on the keypad: the keys turned into key events (docs/keypad.md's codes
and arguments), and the LCD's screen while a login or a transfer is being typed.

Digits type digits. ABC switches the digit keys to letters, typed as on a phone (2: A B C,
3: D E F, ... 9: W X Y Z; the same key again within a second steps to the next letter). CLEAR
takes back a character (on an empty field: cancels), OK goes on, and 30 s without a key
cancels. LOGIN asks for the teller id, then the PIN (shown as *). TRANSFER asks for a counter
number, a service letter, or both; TRANSFER again sends a lone service's ticket to the back of
its queue. Another function key cancels the typing and does its own work; the customer's
evaluation keys never disturb it."""

from keys import CODES, RATINGS, ticks_diff

LETTERS = {"2": "ABC", "3": "DEF", "4": "GHI", "5": "JKL", "6": "MNO", "7": "PQRS",
           "8": "TUV", "9": "WXYZ"}
TAP_MS = 1000        # the same digit key again within this steps to its next letter
IDLE_MS = 30000      # typing is cancelled after this long without a key
ID_LENGTH = 8        # a teller id's characters (config: 1 to 8 letters or digits)
ARGUMENT = 16        # an event's argument (docs/keypad.md)


class Entry:
    """Keys in (`key`), events out; `screen` is the LCD's text while typing, else None;
    `beeps` counts keys that could not be typed (a full field, OK on an empty one)."""

    def __init__(self):
        self.field = None    # "id", "pin" or "transfer" while typing, else None
        self.typed = ""      # the field's text
        self.teller = ""     # the id, while the PIN is typed
        self.back = False    # transfer: to the back of the service's queue
        self.letters = False
        self.last = None     # (key, ms) of the last digit, for stepping through its letters
        self.touched = 0
        self.beeps = 0

    def key(self, name, now):
        """One key pressed at `now` ms: (code, argument bytes) to queue, or None."""
        if name in RATINGS:
            return CODES[name], b""
        if self.field and ticks_diff(now, self.touched) >= IDLE_MS:
            self.field = None
        self.touched = now
        if self.field is None or name in CODES and \
                not (name == "TRANSFER" and self.field == "transfer"):
            return self._start(name)
        if name == "TRANSFER":
            if any(c.isdigit() for c in self.typed):   # "back" is for a service alone
                self.beeps += 1
            else:
                self.back = not self.back
        elif name == "ABC":
            self.letters, self.last = not self.letters, None
        elif name == "CLEAR":
            if not self.typed:
                self.field = None
            self.typed, self.last = self.typed[:-1], None
        elif name == "OK":
            return self._done()
        elif name in "0123456789":
            self._type(name, now)
        return None

    def screen(self, now):
        """The two lines while typing (None when not typing, or idle for IDLE_MS)."""
        if self.field is None or ticks_diff(now, self.touched) >= IDLE_MS:
            return None
        mode = "ABC" if self.letters else "123"
        if self.field == "id":
            return "TELLER ID", _fit(self.typed, mode)
        if self.field == "pin":
            return "PIN", _fit("*" * len(self.typed), "123")
        return "TRANSFER TO", _fit(self._transfer() or "", mode)

    def _start(self, name):
        self.field = {"LOGIN": "id", "TRANSFER": "transfer"}.get(name)
        self.typed, self.back, self.letters, self.last = "", False, False, None
        return None if self.field or name not in CODES else (CODES[name], b"")

    def _type(self, digit, now):
        if self.field == "pin" or not self.letters or digit not in LETTERS:
            character = digit
        elif self.last and self.last[0] == digit and ticks_diff(now, self.last[1]) < TAP_MS \
                and self.typed and self.typed[-1] in LETTERS[digit]:
            letters = LETTERS[digit]
            character = letters[(letters.index(self.typed[-1]) + 1) % len(letters)]
            self.typed = self.typed[:-1]
        else:
            character = LETTERS[digit][0]
        self.last = (digit, now) if character.isalpha() else None
        if self.field == "transfer" and character.isalpha():   # one service letter
            self.typed = "".join(c for c in self.typed if c.isdigit())
        if len(self.typed) < self._room():
            self.typed += character
        else:
            self.beeps += 1

    def _room(self):
        if self.field == "id":
            return ID_LENGTH
        if self.field == "pin":
            return ARGUMENT - 1 - len(self.teller)
        return 4   # transfer: a counter of up to 3 digits and a letter

    def _transfer(self):
        digits = "".join(c for c in self.typed if c.isdigit())[:3]
        letter = "".join(c for c in self.typed if c.isalpha())
        if digits:
            return "@" + digits + (" " + letter if letter else "")
        return letter + (" back" if self.back else "") if letter else None

    def _done(self):
        if not self.typed:
            self.beeps += 1
            return None
        if self.field == "id":
            self.teller, self.field, self.typed, self.letters = self.typed, "pin", "", False
            return None
        field, self.field = self.field, None
        if field == "pin":
            return CODES["LOGIN"], (self.teller + " " + self.typed).encode()
        return CODES["TRANSFER"], self._transfer().encode()


def _fit(text, mode):
    """A typed field on line 2: its last 12 characters, and the digit keys' mode at the end."""
    return text[-12:] + " " * (13 - len(text[-12:])) + mode

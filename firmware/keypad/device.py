"""The keypad's side of docs/keypad.md, protocol version 2: its registers, its queue of key
presses, and the answer to each request. No hardware here (see the board layer): MicroPython,
on the board and on the unix port."""

from rtu import intact, request_at_end, sealed

PROTOCOL = 2
INPUTS = 15              # input registers 0-14
HOLDING = 18             # holding registers 0-1 (acknowledgement), 2-17 (display)
COILS = 3                # serving LED, paused LED, beeper
ARGUMENT = 16            # characters of a key's argument
ILLEGAL_FUNCTION, ILLEGAL_ADDRESS, ILLEGAL_VALUE = 1, 2, 3
LIMITS = {4: 125, 15: 1968, 16: 123}   # the most a request of each function may name


class Refused(Exception):
    """A request answered with a Modbus exception (its code)."""


class Keypad:
    """One keypad: `press` queues a key, `answer` serves the master's requests.

    Example::

        keypad = Keypad(address=3, session=4711, firmware=(1, 0))
        keypad.press(1)                          # call
        reply = keypad.answer(frame, seconds)    # bytes to send, or None: stay silent
    """

    def __init__(self, address, session, firmware=(1, 0), depth=8):
        self.address, self.session, self.depth = address, session, depth
        self.firmware = firmware[0] << 8 | firmware[1]
        self.queue = []          # (sequence, code, argument bytes), oldest first
        self.next_sequence = 1
        self.display = bytearray(b" " * 32)
        self.leds = [False, False]
        self.beeps = 0           # beeps asked for and not yet sounded (the board sounds them)

    def press(self, code, argument=b""):
        """Queue a key press; False when the queue is full (the press is refused at the
        keypad: it beeps, and uses no sequence number)."""
        if len(self.queue) >= self.depth or len(argument) > ARGUMENT:
            self.beeps += 1
            return False
        self.queue.append((self.next_sequence, code, bytes(argument)))
        self.next_sequence = self.next_sequence % 65535 + 1
        return True

    def lines(self):
        """The display's two lines, as written."""
        text = bytes(self.display).decode()
        return text[:16], text[16:]

    def answer(self, frame, seconds):
        """The answer to one whole frame heard on the line (or to the request to this keypad
        that ends a run of frames), or None when the keypad must stay silent (a bad CRC,
        another address, a broadcast). `seconds` since power-up: the
        heartbeat."""
        if not intact(frame):
            frame = request_at_end(frame, self.address)
        if frame is None or frame[0] != self.address:
            return None
        function = frame[1]
        try:
            body = self._serve(function, frame[2:-2], seconds)
        except Refused as refused:
            body = bytes((function | 0x80, refused.args[0]))
        return sealed(bytes((self.address,)) + body)

    def _serve(self, function, data, seconds):
        if function not in LIMITS:
            raise Refused(ILLEGAL_FUNCTION)
        if len(data) < 4:
            raise Refused(ILLEGAL_VALUE)
        first, count = data[0] << 8 | data[1], data[2] << 8 | data[3]
        if function == 4:
            if len(data) != 4 or not 1 <= count <= LIMITS[4]:
                raise Refused(ILLEGAL_VALUE)
            if first + count > INPUTS:
                raise Refused(ILLEGAL_ADDRESS)
            registers = self._inputs(seconds)[first:first + count]
            return bytes((4, 2 * count)) + b"".join(r.to_bytes(2, "big") for r in registers)
        size = 2 * count if function == 16 else (count + 7) // 8
        if not 1 <= count <= LIMITS[function] or len(data) != 5 + size or data[4] != size:
            raise Refused(ILLEGAL_VALUE)
        if first + count > (HOLDING if function == 16 else COILS):
            raise Refused(ILLEGAL_ADDRESS)
        if function == 16:
            self._write_registers(first, [data[5 + 2 * i] << 8 | data[6 + 2 * i]
                                          for i in range(count)])
        else:
            self._write_coils(first, [bool(data[5 + i // 8] >> (i % 8) & 1)
                                      for i in range(count)])
        return bytes((function,)) + data[:4]

    def _inputs(self, seconds):
        sequence, code, argument = self.queue[0] if self.queue else (0, 0, b"")
        padded = argument + b"\0" * (ARGUMENT - len(argument))
        return [PROTOCOL, self.firmware, int(seconds) % 65536, self.session, len(self.queue),
                sequence, code] + [padded[i] << 8 | padded[i + 1] for i in range(0, ARGUMENT, 2)]

    def _write_registers(self, first, values):
        if first == 0 and len(values) >= 2 and self.queue and \
                (values[0], values[1]) == (self.session, self.queue[0][0]):
            self.queue.pop(0)   # acknowledged: session and sequence both match
        for register, value in enumerate(values, first):
            if register >= 2:
                at = 2 * (register - 2)
                self.display[at:at + 2] = bytes(c if 0x20 <= c < 0x7F else 0x3F
                                                for c in (value >> 8, value & 0xFF))

    def _write_coils(self, first, bits):
        for coil, bit in enumerate(bits, first):
            if coil < 2:
                self.leds[coil] = bit
            elif bit:
                self.beeps += 1

"""Simulated teller keypads: pymodbus's own RTU server (not our framing) with a key queue.

Implements the register map of drivers/keypads.py from the keypad's side.
"""

from __future__ import annotations

import random
import time
from collections import deque

from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.keypads import KEY_CODES

CODES = {key: code for code, key in KEY_CODES.items()}


class KeypadSim:
    def __init__(self, address: int, firmware: tuple[int, int] = (1, 2),
                 display_registers: int = 16):
        """`display_registers` below the map's 16: a keypad that departs from docs/keypad.md
        (a 16-character display) and refuses the display write."""
        self.address, self.firmware = address, firmware
        self.display_registers = display_registers
        self.session = random.randint(1, 0xFFFF)
        self.queue: deque[tuple[int, int, str]] = deque()
        self.next_sequence = 1
        self.display = ""
        self.leds = [False, False]
        self.beeps = 0
        self.started = time.monotonic()

    def press(self, key: str, argument: str = "") -> None:
        self.queue.append((self.next_sequence, CODES[key], argument))
        self.next_sequence = self.next_sequence % 0xFFFF + 1

    def restart(self) -> None:
        """Power-cycled: a new session, an empty queue and display."""
        self.__init__(self.address, self.firmware, self.display_registers)

    def device(self) -> SimDevice:
        block = lambda n: [SimData(0, count=n, values=0, datatype=DataType.REGISTERS)]  # noqa
        bits = lambda n: [SimData(0, count=n, values=False, datatype=DataType.BITS)]  # noqa
        return SimDevice(self.address, simdata=(bits(3), bits(1),
                                                block(1 + self.display_registers), block(14)),
                         action=self._action)

    async def _action(self, function, start, address, count, registers, values):
        if function == 4:
            head = self.queue[0] if self.queue else (0, 0, "")
            argument = head[2].encode("ascii").ljust(16, b"\0")
            registers[:14] = [self.firmware[0] << 8 | self.firmware[1],
                              int(time.monotonic() - self.started) & 0xFFFF, self.session,
                              len(self.queue), head[0], head[1]] + \
                [argument[i] << 8 | argument[i + 1] for i in range(0, 16, 2)]
        elif function == 16:
            display = values
            if address == 0:
                if self.queue and self.queue[0][0] == values[0]:
                    self.queue.popleft()
                display = values[1:]
            if display:
                self.display = b"".join(v.to_bytes(2, "big") for v in display).decode().rstrip()
        elif function == 15:
            self.leds = list(values[:2])
            self.beeps += bool(values[2])
        return None


def keypad_server(port: str, keypads: list[KeypadSim], baudrate: int = 115200):
    return ModbusSerialServer([k.device() for k in keypads], port=port, baudrate=baudrate)

"""What a counter display shows (docs/counter-display.md): its counter's ticket or state, fitted
to the display's width."""

from __future__ import annotations

from queue_core.model import CounterStatus, State

NARROW = 6   # characters: a display narrower than this shows PAUSED and CLOSED as signs
SIGNS = {"PAUSED": "||", "CLOSED": "-"}   # on a narrow display ("-" fills its width)


def counter_display(counter: CounterStatus, called: bool) -> tuple[str, bool | None]:
    """The text over `counter` and whether it blinks: True from a call or recall just made
    (`called`), None while that ticket is still called (it blinks on for its time), False
    steady. The ticket comes first: a paused counter still serves the customer at it."""
    if counter.current is not None:
        label = counter.current.label
        if called:
            return label, True
        return label, None if counter.current.state is State.CALLED else False
    if counter.teller is None:
        return "CLOSED", False
    return ("PAUSED" if counter.paused else ""), False


def fit(text: str, width: int) -> str:
    """`text` centred in `width` characters (the extra space on the right), ASCII 0x20-0x7E
    only (others as '?'). A text that does not fit: PAUSED and CLOSED as their signs (`||`,
    dashes across the width), a ticket's label as its last characters (its number's digits)."""
    text = "".join(c if " " <= c <= "~" else "?" for c in text)
    if len(text) > width:
        sign = SIGNS.get(text)
        if sign == "-":
            text = sign * width
        elif sign is not None:
            text = sign[:width]
        else:
            text = text[-width:]
    left = (width - len(text)) // 2
    return " " * left + text + " " * (width - len(text) - left)

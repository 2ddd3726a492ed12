"""Patients' names as the hall may show them: masked (张*三), not at all, or in full."""

from __future__ import annotations


def shown_name(name: str | None, privacy: str) -> str:
    """`name` by the hall's `privacy` ("mask", "numbers" or "full"): masked, every character
    but the first and the last becomes *, a name of two keeps its first ("张*"), one of one
    keeps none; "numbers" and no name give ""."""
    if not name or privacy == "numbers":
        return ""
    if privacy == "full":
        return name
    if len(name) == 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]

"""The keypad alone: digits are handed over as one entry on "#" or after a pause."""

from __future__ import annotations

import asyncio

from calls.engine.keypad import Keypad


class Hooks:
    def __init__(self) -> None:
        self.entries: list[str] = []

    def keys_pressed(self, digits: str) -> None:
        self.entries.append(digits)


async def test_hash_hands_the_digits_over_at_once():
    keypad = Keypad(hooks := Hooks(), wait=10.0)
    for digit in "42#":
        keypad.press(digit)
    assert hooks.entries == ["42"] and keypad.pending == ""


async def test_a_pause_hands_the_digits_over():
    keypad = Keypad(hooks := Hooks(), wait=0.05)
    keypad.press("7")
    keypad.press("1")
    assert keypad.pending == "71" and hooks.entries == []
    await asyncio.sleep(0.15)
    assert hooks.entries == ["71"] and keypad.pending == ""


async def test_a_lone_hash_is_no_entry_and_close_stops_the_pause():
    keypad = Keypad(hooks := Hooks(), wait=0.05)
    keypad.press("#")
    keypad.press("3")
    keypad.close()
    await asyncio.sleep(0.15)
    assert hooks.entries == []

"""The caller's keypad: digits gathered into one turn.

`Keypad` collects the digits the caller presses until "#" or a pause of `DTMF_WAIT` seconds,
then hands them over as one entry through `KeypadHooks`.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

DTMF_WAIT = 2.0  # seconds after the last key before the digits are taken as the caller's turn


class KeypadHooks(Protocol):
    """What the keypad tells the session."""

    def keys_pressed(self, digits: str) -> None:
        """The caller finished keying `digits` ("#" or a pause ended them)."""


class Keypad:
    """Owns the digits pressed so far and the pause that ends them."""

    def __init__(self, hooks: KeypadHooks, *, wait: float = DTMF_WAIT) -> None:
        self.hooks = hooks
        self.wait = wait
        self._digits = ""
        self._timer: asyncio.TimerHandle | None = None

    @property
    def pending(self) -> str:
        """Digits pressed and not yet handed over."""
        return self._digits

    def press(self, digit: str) -> None:
        """One key: "#" ends the entry at once; any other key waits for more."""
        if self._timer is not None:
            self._timer.cancel()
        if digit == "#":
            self._take()
            return
        self._digits += digit
        self._timer = asyncio.get_running_loop().call_later(self.wait, self._take)

    def _take(self) -> None:
        digits, self._digits = self._digits, ""
        self._timer = None
        if digits:
            self.hooks.keys_pressed(digits)

    def close(self) -> None:
        """The call is ending: no entry is handed over any more."""
        if self._timer is not None:
            self._timer.cancel()

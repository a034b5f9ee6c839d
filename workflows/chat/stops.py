"""User stop strings (the API's ``stop``) applied to streamed text.

Streaming must never show text that later turns out to be the start of a
stop string, so the tail that could still grow into one is held back until
the next piece decides it.
"""

from typing import Optional


def find_stop(text: str, stops: list[str]) -> Optional[int]:
    """Where the earliest stop string starts in ``text``, or None."""
    positions = [text.find(stop) for stop in stops if stop and stop in text]
    return min(positions) if positions else None


def held_back(text: str, stops: list[str]) -> int:
    """Length of the longest tail of ``text`` that is a proper prefix of some stop string."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest

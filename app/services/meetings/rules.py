"""The counting rules of meetings (DESIGN.md's defaults, configured in `settings.rules`).

- Quorum: present non-exempt members ≥ `quorum_ratio` × summoned non-exempt members. Only the
  branch's own members count: guests from upper levels and residence attendees are counted
  apart (`guests`, `residents`) and never enter a base, a numerator or a vote.
- A motion passes when yes > `pass_ratio` × summoned voting members (full, not exempt), and
  only when the meeting is quorate.

Ratios are turned into exact fractions (2/3 is not a float problem here).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


def exact(ratio: float) -> Fraction:
    return Fraction(ratio).limit_denominator(1000)


def quorum_needed(base: int, ratio: float) -> int:
    """Present members needed out of `base` summoned, non-exempt members (at least one)."""
    fraction = exact(ratio)
    needed = -(-base * fraction.numerator // fraction.denominator)  # ceil
    return max(1, needed)


def is_quorate(present: int, base: int, ratio: float) -> bool:
    return base > 0 and present >= quorum_needed(base, ratio)


def has_passed(yes: int, eligible: int, ratio: float, *, quorate: bool) -> bool:
    fraction = exact(ratio)
    return quorate and eligible > 0 and yes * fraction.denominator > fraction.numerator * eligible


@dataclass(frozen=True, slots=True)
class Counts:
    summoned: int
    exempt: int
    present: int  # non-exempt members present (the quorum's numerator)
    present_exempt: int
    excused: int
    absent: int
    pending: int
    # Not the branch's members: listed and checked in, never in the quorum or a vote.
    guests: int = 0
    guests_present: int = 0
    residents: int = 0
    residents_present: int = 0

    @property
    def quorum_base(self) -> int:
        return self.summoned - self.exempt

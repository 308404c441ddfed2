"""ISU jump element codes <-> (jump type, revolutions) in the synthetic world's names.

A code is the number of revolutions in the name followed by the ISU abbreviation: ``3Lz``
(triple Lutz), ``2A`` (double Axel), ``4T`` (quad toe loop). An Axel takes off forward, so
it turns half a revolution more than its name says: ``2A`` is 2.5 revolutions in the air.
The revolutions a type allows are those the synthetic world renders
(``sportanim.synth.jumps.JUMP_TYPES``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sportanim.synth.jumps import JUMP_TYPES

# ISU abbreviations of the six jumps.
ISU_ABBREVIATIONS = {"A": "axel", "T": "toe_loop", "S": "salchow", "Lo": "loop", "F": "flip", "Lz": "lutz"}
TYPE_ABBREVIATIONS = {name: abbr for abbr, name in ISU_ABBREVIATIONS.items()}
# A skater's height the generator is asked for, metres (children to tall adult skaters).
HEIGHT_RANGE = (1.2, 2.1)
_TYPE_ALIASES = {"toeloop": "toe_loop", "toe-loop": "toe_loop"}
DIRECTIONS = ("ccw", "cw")  # rotation seen from above; ccw is the common direction

_CODE = re.compile(r"\s*([0-9])\s*([A-Za-z]+)\s*")


@dataclass(frozen=True)
class Element:
    """One jump: the world's type name and its revolutions in the air."""

    type: str
    revolutions: float

    @property
    def code(self) -> str:
        named = self.revolutions - 0.5 if self.type == "axel" else self.revolutions
        return f"{int(named)}{TYPE_ABBREVIATIONS[self.type]}"


def _article(name: str) -> str:
    return "an" if name[0] in "aeiou" else "a"


def _allowed(name: str) -> str:
    revs = JUMP_TYPES[name].revolutions
    return ", ".join(f"{r:g}" for r in revs) + " (" + ", ".join(Element(name, r).code for r in revs) + ")"


def element(jump_type: str, revolutions: float) -> Element:
    """Check a (type, revolutions) pair; ``ValueError`` naming what the world allows.
    ``toeloop`` / ``toe-loop`` are read as the world's ``toe_loop``."""
    jump_type = _TYPE_ALIASES.get(str(jump_type).lower(), str(jump_type).lower())
    if jump_type not in JUMP_TYPES:
        raise ValueError(f"unknown jump type {jump_type!r}; use one of {', '.join(JUMP_TYPES)}")
    revs = float(revolutions)
    if revs not in JUMP_TYPES[jump_type].revolutions:
        raise ValueError(f"{_article(jump_type)} {jump_type} cannot have {revs:g} revolutions; allowed: {_allowed(jump_type)}")
    return Element(jump_type, revs)


def parse_code(code: str) -> Element:
    """``"3Lz"`` -> ``Element("lutz", 3.0)``; ``"2A"`` -> ``Element("axel", 2.5)``.
    Abbreviations are matched case-insensitively (``3lz`` works)."""
    match = _CODE.fullmatch(str(code))
    abbr = None
    if match:
        abbr = next((a for a in ISU_ABBREVIATIONS if a.lower() == match.group(2).lower()), None)
    if abbr is None:
        raise ValueError(f"unknown jump code {code!r}; write revolutions then one of "
                         f"{', '.join(ISU_ABBREVIATIONS)} (e.g. 3Lz, 2A, 4T)")
    name = ISU_ABBREVIATIONS[abbr]
    named = float(match.group(1))
    revs = named + 0.5 if name == "axel" else named
    if revs not in JUMP_TYPES[name].revolutions:
        raise ValueError(f"{code.strip()!r}: {_article(name)} {name} cannot have {revs:g} revolutions; allowed: {_allowed(name)}")
    return Element(name, revs)


def resolve(jump: str | Element | tuple[str, float] | None = None, jump_type: str | None = None,
            revolutions: float | None = None) -> Element:
    """One element from a code (``"3Lz"``), an ``Element``, a ``(type, revs)`` pair or the
    ``jump_type`` + ``revolutions`` pair (the CLI's ``--type lutz --revs 3``); not both forms."""
    if jump is not None and (jump_type is not None or revolutions is not None):
        raise ValueError("give either a jump code (--jump 3Lz) or --type and --revs, not both")
    if isinstance(jump, Element):
        return element(jump.type, jump.revolutions)
    if isinstance(jump, tuple):
        return element(*jump)
    if jump is not None:
        return parse_code(jump)
    if jump_type is None or revolutions is None:
        raise ValueError("name the jump: a code (--jump 3Lz) or both --type and --revs (--type lutz --revs 3)")
    return element(jump_type, revolutions)


def check_height(height: float | None) -> float | None:
    """An athlete height in metres inside HEIGHT_RANGE, or None (no height condition)."""
    if height is None:
        return None
    h = float(height)
    if not HEIGHT_RANGE[0] <= h <= HEIGHT_RANGE[1]:
        raise ValueError(f"--height {h:g} m is outside {HEIGHT_RANGE[0]}-{HEIGHT_RANGE[1]} m; "
                         "give the skater's height in metres (e.g. 1.62)")
    return h


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ValueError(f"--direction must be ccw or cw (seen from above), got {direction!r}")
    return direction

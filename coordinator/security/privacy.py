"""What a kiosk may know about a member: a masked name, never a full name or phone number.

Kiosks cache :class:`shared.model.MemberRecord`, which has no field for a full name, phone
number or birthday at all; the only free text is ``display_name``, which staff are asked to
enter masked (``李*华``, ``Anna L.``). :func:`kiosk_display_name` is the safety net for when
they did not: a display name that equals the full name is masked, and digits that look like
a phone number are starred, before the record leaves the coordinator.
"""

from __future__ import annotations

import re

_DIGIT_RUN = re.compile(r"\d[\d\s\-+]{5,}\d")
_MIN_PHONE_DIGITS = 7


def mask_name(name: str) -> str:
    """A masked form of a personal name: ``李小华`` -> ``李*华``, ``Anna Lee`` -> ``Anna L.``."""
    name = " ".join(name.split())
    if not name:
        return name
    words = name.split(" ")
    if len(words) > 1:
        return words[0] + " " + " ".join(w[0] + "." for w in words[1:])
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    if name.isascii():
        return name[0] + "*" * (len(name) - 1)
    return name[0] + "*" * (len(name) - 2) + name[-1]


def _star_phone_digits(text: str) -> str:
    def star(match: re.Match[str]) -> str:
        run = match.group(0)
        digits = [c for c in run if c.isdigit()]
        if len(digits) < _MIN_PHONE_DIGITS:
            return run
        return "*" * (len(digits) - 4) + "".join(digits[-4:])

    return _DIGIT_RUN.sub(star, text)


def kiosk_display_name(display_name: str, full_name: str = "", phone: str = "") -> str:
    """The name kiosks get: ``display_name``, masked where it would give away more."""
    name = display_name.strip()
    full = " ".join(full_name.split())
    if full and " ".join(name.split()).casefold() == full.casefold():
        name = mask_name(name)
    name = _star_phone_digits(name)
    phone_digits = re.sub(r"\D", "", phone)
    if len(phone_digits) >= _MIN_PHONE_DIGITS and phone_digits in re.sub(r"\D", "", name):
        name = re.sub(r"\d", "*", name)
    return name or "*"

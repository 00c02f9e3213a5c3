"""File names that FAT32 and exFAT accept, and that never collide on a case-blind volume.

Both refuse control characters and `"*/:<>?\\|`, and Windows drops a trailing dot or space; a
name is at most 255 UTF-16 units, and a Windows path 260 characters, so ours stay short.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

FORBIDDEN = re.compile(r'[\x00-\x1f\x7f"*/:<>?\\|]')
RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
MAX_STEM = 80            # characters before the extension: the whole path stays far below 260


def safe(text: str, max_len: int = MAX_STEM) -> str:
    """`text` made fit for a FAT or exFAT name: forbidden characters become '-', spaces '_', no
    trailing dots or spaces, not a DOS device name, at most max_len characters, never empty."""
    name = FORBIDDEN.sub("-", text).replace(" ", "_")[:max_len].rstrip(". ")
    if not name:
        return "_"
    if name.split(".")[0].upper() in RESERVED:
        name = "_" + name
    return name


def _party(call: dict[str, Any]) -> str:
    """The number in a file name: the other party's digits as the catalog holds them."""
    number = call.get("dialed") if call.get("direction") == "outbound" else None
    number = number or call.get("remote_number") or call.get("dialed")
    if number:
        return safe(number, 32)
    return "withheld" if call.get("remote_withheld") else "unknown"


def stem(call: dict[str, Any], started: datetime) -> str:
    """'141200_L1_in_4155550123' ('_part2' for a later part of a split call); `started` in the
    box's zone."""
    way = {"inbound": "in", "outbound": "out"}.get(call.get("direction") or "", "call")   # as recordings/ names it
    part = call.get("part") or 1
    text = f"{started:%H%M%S}_L{call['line']}_{way}_{_party(call)}" + (f"_part{part}" if part > 1 else "")
    return safe(text)


def unique(folder: str, stem_text: str, ext: str, taken: set[str]) -> str:
    """'folder/stem.ext', or 'folder/stem_2.ext' and on, whichever no name in `taken` is, compared
    without case (FAT and exFAT ignore it); the name returned is added to `taken` (lower case)."""
    n = 1
    while True:
        name = f"{folder}/{stem_text}{'' if n == 1 else f'_{n}'}.{ext}"
        if name.lower() not in taken:
            taken.add(name.lower())
            return name
        n += 1

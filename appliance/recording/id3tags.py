"""A finished recording's ID3 tag, so a file explains itself on a stick, in a car or in Windows
Explorer: ID3v2.3 (id3lib-based tools, older Windows and car players read no v2.4) holding only
v2.3 frames, text in Latin-1 when it is ASCII and in UTF-16 with a byte-order mark otherwise
(the two encodings v2.3 knows). The words come from present.tag_words; the catalog's own values
(call id, UTC start, digits as stored) go into TXXX frames for machines."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from mutagen.id3 import COMM, ID3, TALB, TCON, TDAT, TIME, TIT2, TLEN, TPE1, TPE2, TXXX, TYER, Encoding

from ..present import tag_words
from ..store.box import BoxFacts

ALBUM_ARTIST = "Hookline"     # every line's album under one name, as players group albums
GENRE = "Speech"              # ID3v1 genre 101: players know it
MACHINE_KEYS = ("id", "line", "direction", "started_at", "remote_number", "remote_name", "dialed", "part",
                "previous_id")


def encoding(*texts: str) -> Encoding:
    """Latin-1 for plain ASCII (every reader gets it right), else UTF-16 with a BOM."""
    return Encoding.LATIN1 if all(t.isascii() for t in texts) else Encoding.UTF16


def _text(kind, value: str):
    return kind(encoding=encoding(value), text=value)


def frames(call: dict[str, Any], box: BoxFacts, audio_s: float) -> list:
    """The tag's frames for a call row (as the catalog has it, with its end filled in)."""
    when = tag_words.moment(call, box)
    comment = tag_words.comment(call, box)
    found = [
        _text(TIT2, tag_words.title(call, box)),
        _text(TPE1, tag_words.artist(call, box)),
        _text(TPE2, ALBUM_ARTIST),
        _text(TALB, tag_words.album(call, box)),
        _text(TYER, f"{when:%Y}"), _text(TDAT, f"{when:%d%m}"), _text(TIME, f"{when:%H%M}"),
        _text(TCON, GENRE),
        _text(TLEN, str(round(audio_s * 1000))),
        COMM(encoding=encoding(comment), lang="eng", desc="", text=comment),
    ]
    for key in MACHINE_KEYS:
        value = tag_words.clean(call.get(key))
        if value:
            found.append(TXXX(encoding=encoding(value), desc=f"hookline_{key}", text=value))
    return found


def write(path: Path, call: dict[str, Any], box: BoxFacts, audio_s: float) -> None:
    """Put the tag at the start of the file (a new tag: a part file has none)."""
    tags = ID3()
    for frame in frames(call, box, audio_s):
        tags.add(frame)
    tags.save(path, v2_version=3)


def machine_keys(path: Path) -> dict[str, str]:
    """The catalog's own values a finished recording carries (TXXX hookline_*), {} when it has
    none or no readable tag: what `hookline store check --repair` rebuilds a lost row from."""
    try:
        tags = ID3(path)
    except Exception:       # no tag, or not an MP3 at all: nothing to read
        return {}
    found = {}
    for frame in tags.getall("TXXX"):
        key = frame.desc.removeprefix("hookline_")
        if frame.desc.startswith("hookline_") and key in MACHINE_KEYS and frame.text:
            found[key] = str(frame.text[0])
    return found

"""What a recording's ID3 tag says (present.tag_words, recording.id3tags): plain titles in the
box's zone and region, the other party as the artist, the line as the album, no control
characters, and a tag only ID3v2.3 readers need to understand."""
from __future__ import annotations

import unicodedata

import numpy as np
import pytest
from mutagen.id3 import ID3, Encoding

from appliance.present import tag_words
from appliance.recording import id3tags
from appliance.recording.mp3 import StreamEncoder
from appliance.store.box import BoxFacts, LineFacts

LA = BoxFacts(timezone="America/Los_Angeles", phone_region="US",
              lines={1: LineFacts(1, "Line 1"), 2: LineFacts(2, "Front desk")})
AT = "2026-03-04T22:12:00.500Z"          # 14:12 in Los Angeles (PST)
# Frames an ID3v2.3 reader knows (v2.4 added TDRC, TDRL, TSOP, ... which id3lib cannot read).
V23_FRAMES = {"TIT2", "TPE1", "TPE2", "TALB", "TYER", "TDAT", "TIME", "TCON", "TLEN", "COMM", "TXXX"}


def call(**fields) -> dict:
    return {"id": "ab12cd34ef", "line": 1, "started_at": AT, "duration_s": 185.2, **fields}


@pytest.mark.parametrize("fields, title", [
    ({"direction": "inbound", "remote_number": "4155550123", "remote_name": "ACME PLUMBING"},
     "Inbound from ACME PLUMBING, 4 Mar 2026 14:12, line 1"),
    ({"direction": "inbound", "remote_number": "4155550123"}, "Inbound from (415) 555-0123, 4 Mar 2026 14:12, line 1"),
    ({"direction": "inbound", "remote_withheld": 1}, "Inbound from a withheld number, 4 Mar 2026 14:12, line 1"),
    ({"direction": "inbound"}, "Inbound call on line 1, 4 Mar 2026 14:12"),
    ({"direction": "outbound", "dialed": "4155550123", "line": 2},
     "Outbound to (415) 555-0123, 4 Mar 2026 14:12, Front desk"),
    ({"direction": "outbound", "dialed": "*69"}, "Outbound to *69, 4 Mar 2026 14:12, line 1"),
    ({"direction": "outbound", "line": 2}, "Outbound call on Front desk, 4 Mar 2026 14:12"),
    ({"direction": None, "remote_number": "4155550123"}, "Call with (415) 555-0123, 4 Mar 2026 14:12, line 1"),
    ({"direction": None, "line": 3}, "Call on line 3, 4 Mar 2026 14:12"),
    ({"direction": None, "line": 2, "part": 2}, "Call on Front desk, 4 Mar 2026 14:12, part 2"),
])
def test_titles_say_who_when_and_which_line(fields, title):
    assert tag_words.title(call(**fields), LA) == title


@pytest.mark.parametrize("box, started, fields, title", [
    (BoxFacts(timezone="Asia/Tokyo"), AT, {"direction": "inbound"}, "Inbound call on line 1, 5 Mar 2026 07:12"),
    (LA, "2026-07-04T21:05:00Z", {"direction": "inbound"}, "Inbound call on line 1, 4 Jul 2026 14:05"),   # PDT
    (BoxFacts(timezone="Europe/London", phone_region="GB"), AT, {"direction": "inbound", "remote_number": "02079460958"},
     "Inbound from 020 7946 0958, 4 Mar 2026 22:12, line 1"),
    (BoxFacts(timezone="Europe/London", phone_region="GB"), AT, {"direction": "outbound", "dialed": "0014155550123"},
     "Outbound to +1 415-555-0123, 4 Mar 2026 22:12, line 1"),
])
def test_titles_use_the_boxs_zone_and_region(box, started, fields, title):
    assert tag_words.title(call(started_at=started, **fields), box) == title


@pytest.mark.parametrize("fields, artist", [
    ({"direction": "inbound", "remote_number": "4155550123", "remote_name": "ACME PLUMBING"}, "ACME PLUMBING"),
    ({"direction": "inbound", "remote_number": "4155550123"}, "(415) 555-0123"),
    ({"direction": "outbound", "dialed": "4155550123"}, "(415) 555-0123"),
    ({"direction": "inbound", "remote_withheld": 1}, "Number withheld"),
    ({"direction": None}, "Number not known"),
])
def test_the_artist_is_the_other_party(fields, artist):
    assert tag_words.artist(call(**fields), LA) == artist


def test_album_and_comment_name_the_line_the_call_and_its_length():
    row = call(direction="inbound", remote_number="4155550123", remote_name="ACME PLUMBING", line=2)
    assert tag_words.album(row, LA) == "Hookline — Front desk"
    assert tag_words.comment(row, LA) == ("Call ab12cd34ef on Front desk, inbound, (415) 555-0123, 3:05 long. "
                                          "Left channel: the office; right channel: the line.")


def test_control_characters_from_caller_id_never_reach_a_tag():
    row = call(direction="inbound", remote_number="4155550123\x00", remote_name="ACME\x1b[2J\tPLUMBING\r\n\u202e")
    texts = [tag_words.title(row, LA), tag_words.artist(row, LA), tag_words.comment(row, LA)]
    texts += [str(text) for frame in id3tags.frames(row, LA, 3.0) for text in frame.text]
    for text in texts:
        assert not [ch for ch in text if unicodedata.category(ch)[0] == "C"], repr(text)
    assert texts[1] == "ACME [2J PLUMBING"
    assert tag_words.clean("  José\u00a0 北京 ") == "José 北京"
    assert len(tag_words.clean("X" * 500)) == tag_words.TEXT_MAX


def _mp3(path, seconds: float = 1.0) -> None:
    enc = StreamEncoder(8000, 32)
    frames = (np.zeros((int(8000 * seconds), 2)) + 1000).astype(np.int16)
    path.write_bytes(enc.encode(frames) + enc.flush())


def test_the_tag_is_id3v2_3_with_v2_3_frames_and_encodings(tmp_path):
    path = tmp_path / "call.mp3"
    _mp3(path)
    box = BoxFacts(timezone="Asia/Tokyo", lines={1: LineFacts(1, "北京 José")})
    id3tags.write(path, call(direction="inbound", remote_number="4155550123", remote_name="ACME"), box, 1.25)
    raw = path.read_bytes()
    assert raw[:5] == b"ID3\x03\x00", "an ID3v2.3 header"
    tags = ID3(path, translate=False)      # as stored: mutagen would otherwise show v2.4 frames
    assert tags.version == (2, 3, 0) and b"TDRC" not in raw
    assert {key[:4] for key in tags.keys()} <= V23_FRAMES
    assert tags["TIT2"].text == ["Inbound from ACME, 5 Mar 2026 07:12, 北京 José"]
    assert (tags["TYER"].text, tags["TDAT"].text, tags["TIME"].text) == (["2026"], ["0503"], ["0712"])
    assert tags["TLEN"].text == ["1250"]
    assert tags["TIT2"].encoding == Encoding.UTF16 and tags["TPE1"].encoding == Encoding.LATIN1
    # UTF-16 text carries its byte-order mark, as v2.3 requires.
    frame = raw.index(b"TIT2")
    assert raw[frame + 10] == 1 and raw[frame + 11:frame + 13] in (b"\xff\xfe", b"\xfe\xff")
    txxx = {f.desc: f.text[0] for f in tags.getall("TXXX")}
    assert txxx["hookline_id"] == "ab12cd34ef" and txxx["hookline_started_at"] == AT
    assert txxx["hookline_remote_number"] == "4155550123"

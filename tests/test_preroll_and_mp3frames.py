"""Small units the recorder leans on: the pre-roll buffer and the MP3 frame scanner that
recovery uses to cut a crashed .part file after its last whole frame."""
from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile
from mutagen.id3 import ID3, TXXX

from appliance.audio.preroll import PrerollBuffer
from appliance.recording import mp3frames
from appliance.recording.mp3 import StreamEncoder


def frames(first: int, n: int) -> np.ndarray:
    """n stereo frames numbered first..: left = number, right = −number (so order is visible)."""
    k = np.arange(first, first + n, dtype=np.int16)
    return np.stack([k, -k], axis=1)


# -- PrerollBuffer --------------------------------------------------------------------------------
def test_preroll_holds_what_was_appended_before_it_fills():
    buf = PrerollBuffer(10)
    assert (buf.start, buf.end) == (0, 0)
    buf.append(frames(0, 7))
    assert (buf.start, buf.end) == (0, 7)
    np.testing.assert_array_equal(buf.read(2, 5), frames(2, 3))
    np.testing.assert_array_equal(buf.read(0, 7), frames(0, 7))
    assert buf.read(4, 4).shape == (0, 2)


def test_preroll_wraps_around_and_reads_across_the_seam_in_order():
    buf = PrerollBuffer(10)
    buf.append(frames(0, 7))
    buf.append(frames(7, 6))           # 13 frames into 10 slots: wraps at 10
    assert (buf.start, buf.end) == (3, 13)
    np.testing.assert_array_equal(buf.read(3, 13), frames(3, 10))
    np.testing.assert_array_equal(buf.read(8, 12), frames(8, 4))
    for chunk in range(5):              # many small appends keep going round
        buf.append(frames(13 + chunk * 3, 3))
    assert (buf.start, buf.end) == (18, 28)
    np.testing.assert_array_equal(buf.read(18, 28), frames(18, 10))


def test_preroll_append_longer_than_capacity_keeps_the_newest():
    buf = PrerollBuffer(10)
    buf.append(frames(0, 4))
    buf.append(frames(4, 25))
    assert (buf.start, buf.end) == (19, 29)
    np.testing.assert_array_equal(buf.read(19, 29), frames(19, 10))


def test_preroll_exact_capacity_and_full_reads():
    buf = PrerollBuffer(8)
    buf.append(frames(0, 8))
    assert (buf.start, buf.end) == (0, 8)
    np.testing.assert_array_equal(buf.read(0, 8), frames(0, 8))
    buf.append(frames(8, 8))
    np.testing.assert_array_equal(buf.read(8, 16), frames(8, 8))


@pytest.mark.parametrize("start,stop", [(2, 5), (12, 14), (5, 14), (9, 8), (-1, 4)])
def test_preroll_refuses_frames_it_does_not_hold(start, stop):
    buf = PrerollBuffer(10)
    buf.append(frames(0, 13))          # holds 3..13
    with pytest.raises(IndexError):
        buf.read(start, stop)


def encode(rate: int, seconds: float, bitrate: int = 32) -> bytes:
    enc = StreamEncoder(rate, bitrate)
    t = np.arange(int(rate * seconds)) / rate
    pcm = (np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 1000 * t)], axis=1) * 8000).astype("<i2")
    out = b""
    for i in range(0, len(pcm), 160):   # as the recorder feeds it: a period at a time
        out += enc.encode(pcm[i:i + 160])
    return out + enc.flush()


# At 8 and 16 kHz LAME writes MPEG-2.5/MPEG-2 Layer III: 576 samples per frame and, at a
# constant 32 kbit/s, frames of 72000 * 32 / rate bytes (no padding slots at these rates).
@pytest.mark.parametrize("rate", [8000, 16000])
def test_scan_of_a_whole_stream(rate):
    data = encode(rate, 2.0)
    frame_bytes = 72000 * 32 // rate
    assert len(data) % frame_bytes == 0
    scan = mp3frames.scan(data)
    assert scan.start == 0 and scan.end == len(data)
    assert scan.frames == len(data) // frame_bytes
    assert scan.sample_rate == rate
    assert scan.samples == scan.frames * 576
    decoded, decoded_rate = soundfile.read(io.BytesIO(data))
    assert decoded_rate == rate
    assert scan.seconds == pytest.approx(len(decoded) / rate, abs=1e-9)
    assert scan.seconds == pytest.approx(2.0, abs=0.25)


@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("into_frame", [1, 4, 100, -1])
def test_scan_of_a_stream_cut_mid_frame_stops_at_the_last_whole_frame(rate, into_frame):
    data = encode(rate, 2.0)
    frame_bytes = 72000 * 32 // rate
    whole = len(data) // frame_bytes - 3          # cut inside the frame after this many whole ones
    cut = whole * frame_bytes + (into_frame % frame_bytes)
    scan = mp3frames.scan(data[:cut])
    assert scan.end == whole * frame_bytes
    assert scan.frames == whole
    assert scan.seconds == pytest.approx(whole * 576 / rate)
    # what recovery keeps is playable and as long as scan says
    decoded, _ = soundfile.read(io.BytesIO(data[:scan.end]))
    assert len(decoded) == whole * 576


def test_scan_skips_an_id3_tag(tmp_path):
    data = encode(8000, 1.0)
    path = tmp_path / "tagged.mp3"
    path.write_bytes(data)
    tags = ID3()
    tags.add(TXXX(encoding=3, desc="hookline_id", text="abc123"))
    tags.save(path, v2_version=4)
    tagged = path.read_bytes()
    tag_len = len(tagged) - len(data)
    assert tag_len > 10 and tagged[tag_len:] == data
    scan = mp3frames.scan(tagged)
    assert scan.start == tag_len
    assert scan.end == len(tagged)
    assert scan.frames == mp3frames.scan(data).frames
    assert scan.seconds == pytest.approx(mp3frames.scan(data).seconds)


@pytest.mark.parametrize("blob", [b"", b"\xff", b"\xff\xe3\x48", b"not an mp3 at all" * 20])
def test_scan_of_nothing_playable(blob):
    scan = mp3frames.scan(blob)
    assert scan.frames == 0 and scan.samples == 0 and scan.seconds == 0.0
    assert scan.end == scan.start == 0


def test_scan_stops_at_garbage_after_the_frames():
    data = encode(8000, 1.0)
    scan = mp3frames.scan(data + b"\x00" * 500)
    assert scan.end == len(data)
    assert scan.frames == mp3frames.scan(data).frames

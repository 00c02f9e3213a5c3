"""The announcement page over real HTTP against the real app: an admin uploads a WAV or an MP3 at
any rate and hears what callers will (the stored file, mono at 16 kHz); bad files, long ones,
quiet ones, empty ones and oversized uploads are refused with a message that says why, and the
announcement before stays; only admins get in; every change is in the audit log, in words."""
from __future__ import annotations

import io
import os

import lameenc
import numpy as np
import pytest
import soundfile

import webtools as wt
from appliance.notice import stored
from appliance.notice.convert import STORE_RATE
from appliance.present import audit as wording
from appliance.store import audit, box, db as dbmod
from web import UPLOAD_MAX_BYTES

PAGE = "/settings/announcement"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with wt.serving(wt.make_data(tmp_path_factory.mktemp("announce"))) as server:
        yield server


@pytest.fixture(scope="module")
def admin(site):
    return wt.login(site.base, "admin")


def wav(seconds: float, level: float = 0.3, rate: int = 44100, channels: int = 2, hz: float = 600) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    mono = level * np.sin(2 * np.pi * hz * t)
    buf = io.BytesIO()
    soundfile.write(buf, np.stack([mono] * channels, axis=1), rate, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def lying_rate(rate: int) -> bytes:
    """A WAV of a second at 8 kHz whose header claims another sample rate."""
    data = bytearray(wav(1.0, rate=8000, channels=1))
    assert data[12:16] == b"fmt " and int.from_bytes(data[24:28], "little") == 8000
    data[24:28] = rate.to_bytes(4, "little")
    data[28:32] = (rate * 2 % 2 ** 32).to_bytes(4, "little")
    return bytes(data)


def mp3(seconds: float, rate: int = 22050) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    samples = np.round(0.4 * np.sin(2 * np.pi * 900 * t) * 32767).astype(np.int16)
    enc = lameenc.Encoder()
    enc.set_bit_rate(64)
    enc.set_in_sample_rate(rate)
    enc.set_channels(1)
    return bytes(enc.encode(samples.tobytes()) + enc.flush())


def upload(client, name: str, data: bytes, token: str | None = None):
    token = token or client.token_from(PAGE)
    return client.post(PAGE, data={"csrf_token": token}, files={"file": (name, data)})


def _entries(site) -> list[dict]:
    db = dbmod.connect(site.data)
    try:
        return [e for e in audit.entries(db, action="announcement")]
    finally:
        db.close()


def _words(site, entry) -> str:
    db = dbmod.connect(site.data)
    try:
        return wording.describe(entry, wording.Context(box.facts(db), __import__("datetime").timezone.utc)).text
    finally:
        db.close()


def test_an_admin_uploads_hears_replaces_and_removes_it_and_each_change_is_audited(site, admin):
    page = admin.get(PAGE)
    assert page.status_code == 200 and "No announcement is uploaded" in page.text
    assert 'href="/settings/announcement"' in admin.get("/settings").text, "the settings page links to it"

    r = upload(admin, "welcome notice.wav", wav(2.0))
    assert r.status_code == 303
    page = admin.get(PAGE).text
    assert "welcome notice.wav" in page and "2 s" in page and "WAV, 44100 Hz, 2 channels" in page
    heard = admin.get(PAGE + "/audio")
    assert heard.status_code == 200 and heard.headers["Content-Type"] == "audio/wav"
    samples, rate = soundfile.read(io.BytesIO(heard.content))
    assert rate == STORE_RATE and samples.ndim == 1 and len(samples) == 2 * STORE_RATE
    level = 20 * np.log10(np.max(np.abs(samples)))
    assert abs(level - 20 * np.log10(0.3)) < 0.5, level
    assert oct(os.stat(stored.audio_path(site.data)).st_mode & 0o777) == "0o640"

    assert upload(admin, "shorter.mp3", mp3(1.5)).status_code == 303
    meta = stored.current(site.data)
    assert meta["name"] == "shorter.mp3" and abs(meta["duration_s"] - 1.5) < 0.1 and meta["source"].startswith("MP3")

    r = admin.post(PAGE + "/remove", data={"csrf_token": admin.token_from(PAGE)})
    assert r.status_code == 303 and stored.current(site.data) is None
    assert admin.get(PAGE + "/audio").status_code == 404

    removed, replaced, uploaded = _entries(site)[:3]
    assert uploaded["user"] == "admin" and uploaded["detail"]["before"] is None
    assert _words(site, uploaded) == "Uploaded the announcement to callers: 'welcome notice.wav' (2 s)"
    assert _words(site, replaced).startswith("Replaced the announcement to callers 'welcome notice.wav' (2 s) "
                                             "with 'shorter.mp3' (1.")
    assert _words(site, removed).startswith("Removed the announcement to callers 'shorter.mp3'")


BAD_FILES = {      # name -> (the file, what the answer says)
    "notes.txt": (lambda: b"Please hold, your call is recorded.\n" * 20, "not a sound file Hookline can read"),
    "noise.wav": (lambda: np.random.default_rng(7).bytes(4000), "not a sound file Hookline can read"),
    "empty.wav": (lambda: b"", "The file is empty"),
    "silence.wav": (lambda: wav(2.0, level=0.0), "holds no sound at all"),
    "long.wav": (lambda: wav(31.0, rate=8000, channels=1), "too long: 31.0 s (at most 30 s)"),
    "quiet.wav": (lambda: wav(2.0, level=0.01), "too quiet for a phone line: its loudest moment is -40 dBFS"),
    # A header that lies about the rate: a few frames "at 2 GHz" once took gigabytes to resample.
    "fast.wav": (lambda: lying_rate(1_000_000), "says its sample rate is 1000000 Hz"),
    "absurd.wav": (lambda: lying_rate(2_000_000_000), "says its sample rate is 2000000000 Hz"),
    "slow.wav": (lambda: lying_rate(100), "says its sample rate is 100 Hz"),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_files_are_refused_with_a_message_and_the_announcement_stays(site, admin, name):
    make, says = BAD_FILES[name]
    assert upload(admin, "kept.wav", wav(1.0)).status_code == 303
    before = stored.current(site.data)
    r = upload(admin, name, make())
    assert r.status_code == 400, r.text[:300]
    assert says in r.text, r.text[:2000]
    assert stored.current(site.data) == before


def test_an_upload_over_the_size_limit_is_refused_with_its_reason(site, admin):
    before = stored.current(site.data)
    r = upload(admin, "huge.wav", b"\0" * (UPLOAD_MAX_BYTES + 1000))
    assert r.status_code == 413 and "larger than 10 MB" in r.text
    assert stored.current(site.data) == before
    # Other forms keep their own small limit.
    r = admin.post("/settings", data={"csrf_token": admin.token_from("/settings"), "box.min_call_s": "x" * 200_000})
    assert r.status_code == 413


def test_only_admins_may_see_upload_or_remove_it(site, admin):
    assert upload(admin, "kept.wav", wav(1.0)).status_code == 303
    before, entries = stored.current(site.data), len(_entries(site))
    for role in ("listener", "manager"):
        client = wt.login(site.base, role)
        token = client.token_from("/account")
        assert client.get(PAGE).status_code == 403
        assert client.get(PAGE + "/audio").status_code == 403
        assert upload(client, "mine.wav", wav(1.0), token=token).status_code == 403
        assert client.post(PAGE + "/remove", data={"csrf_token": token}).status_code == 403
    stranger = wt.Client(site.base)
    assert stranger.get(PAGE).headers["Location"].startswith("/login")
    # Without the form's token an admin's upload is refused too (a cross-site POST).
    assert admin.post(PAGE, files={"file": ("x.wav", wav(1.0))}).status_code == 400
    assert stored.current(site.data) == before and len(_entries(site)) == entries


def test_the_tone_settings_are_on_the_settings_page_checked_and_audited(site, admin):
    page = admin.get("/settings").text
    for label, unit in (("Beep pitch", "Hz"), ("Beep length", "milliseconds"), ("Beep level", "dBFS"),
                        ("Time between beeps", "seconds")):
        assert f">{label}</label>" in page and f'<span class="unit">{unit}</span>' in page, label
    assert "Allowed: 300 to 3400 Hz." in page and "Allowed: -40 to -3 dBFS." in page
    assert 'value="announcement+periodic"' in page
    r = admin.post_form("/settings", {"box.beep_hz": "5000"})
    assert r.status_code == 400 and "out of range (use 300 to 3400)" in r.text
    r = admin.post_form("/settings", {"box.beep_hz": "1000", "box.consent": "announcement+periodic"})
    assert r.status_code == 303
    db = dbmod.connect(site.data)
    try:
        [entry] = audit.entries(db, action="settings", limit=1)
    finally:
        db.close()
    said = _words(site, entry)
    assert "Set Beep pitch for the whole box to 1000 Hz (it followed the default)" in said
    assert "Set Recording notice for the whole box to the announcement, then a beep at regular intervals" in said

"""The export's group commit (appliance/export/batches.py) in this process, on real files: what
is on the stick under real names, in the journal and left as partial files after a copy that
ends, stops (a cancel from the progress callback) or meets a changed recording, with syncfs(2)
and with its fallback (an fsync per file); and a journal line cut short by a full stick."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from appliance.export import batches, stick


def _sink():
    """A Sink that records what it is told."""
    told = {"verified": [], "checked": [], "mismatched": []}

    class Recorder:
        def mismatched(self, item, reason):
            told["mismatched"].append((item.name, reason))

        def verified(self, item, nbytes):
            told["verified"].append((item.name, nbytes))

        def checked(self, item):
            told["checked"].append(item.name)
    return Recorder(), told


def recordings(tmp_path: Path, n: int) -> tuple[Path, Path, list[batches.Item]]:
    data, root = tmp_path / "data", tmp_path / "stick" / "Hookline"
    data.mkdir()
    root.mkdir(parents=True)
    items = []
    for i in range(n):
        body = bytes([i]) * (300_000 + i)
        (data / f"r{i}.mp3").write_bytes(body)
        call = {"id": f"c{i}", "path": f"r{i}.mp3", "sha256": hashlib.sha256(body).hexdigest(),
                "size_bytes": len(body), "line": 1, "started_at": "2026-03-15T10:00:00Z"}
        items.append(batches.Item(call, f"2026-03-15/10000{i}_L1_in_1.mp3"))
    return data, root, items


def on_stick(root: Path) -> tuple[list[str], list[str]]:
    real = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.mp3"))
    partial = sorted(p.name for p in root.rglob(f"*{stick.PARTIAL}"))
    return real, partial


@pytest.mark.parametrize("syncfs", [True, False], ids=["syncfs", "fsync-per-file"])
def test_every_file_is_verified_journaled_and_renamed(tmp_path, monkeypatch, syncfs):
    if not syncfs:
        monkeypatch.setattr(batches, "_syncfs", None)
    data, root, items = recordings(tmp_path, 5)
    sink, told = _sink()
    batches.copy_all(data, root, items, lambda n: None, sink)
    assert on_stick(root) == (sorted(i.name for i in items), [])
    assert [name for name, _ in told["verified"]] == [i.name for i in items] == told["checked"]
    assert set(stick.read_journal(root)) == {i.call["id"] for i in items} and not told["mismatched"]
    for item in items:
        assert (root / item.name).read_bytes() == (data / item.call["path"]).read_bytes()


def test_a_cancel_keeps_what_was_written_whole_and_removes_the_file_under_way(tmp_path):
    data, root, items = recordings(tmp_path, 4)
    sink, told = _sink()
    seen = [0]

    class Cancelled(Exception):
        pass

    def on_bytes(n: int) -> None:
        seen[0] += n
        if seen[0] > items[0].call["size_bytes"] + items[1].call["size_bytes"]:     # in the third file
            raise Cancelled
    with pytest.raises(Cancelled):
        batches.copy_all(data, root, items, on_bytes, sink)
    assert on_stick(root) == (sorted(i.name for i in items[:2]), [])
    assert [name for name, _ in told["verified"]] == [i.name for i in items[:2]]


def test_a_recording_changed_on_the_box_is_reported_not_copied(tmp_path):
    data, root, items = recordings(tmp_path, 3)
    (data / items[1].call["path"]).write_bytes(b"changed behind the catalog's back")
    sink, told = _sink()
    batches.copy_all(data, root, items, lambda n: None, sink)
    assert on_stick(root) == (sorted([items[0].name, items[2].name]), [])
    assert told["mismatched"] == [(items[1].name, "its SHA-256 is no longer the catalog's (changed or damaged "
                                                  "on the box)")]
    assert set(stick.read_journal(root)) == {"c0", "c2"}


def test_a_journal_line_cut_short_does_not_swallow_the_next(tmp_path):
    data, root, items = recordings(tmp_path, 2)
    sink, _ = _sink()
    batches.copy_all(data, root, items[:1], lambda n: None, sink)
    with open(root / stick.JOURNAL, "ab") as f:
        f.write(b'{"call_id": "c9", "file": "2026-03-15/torn')          # the stick filled up here
    batches.copy_all(data, root, items[1:], lambda n: None, sink)
    assert set(stick.read_journal(root)) == {"c0", "c1"}
    last = (root / stick.JOURNAL).read_text().splitlines()[-1]
    assert json.loads(last)["call_id"] == "c1"

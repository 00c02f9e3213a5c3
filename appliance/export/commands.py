"""The export runner's commands on the recorder's command channel (appliance/control.py), for the
web page and the API:

    {"command": "export-start", "selection": {"since": "2026-03-01", "until": null, "line": null,
     "number": null, "new": true, "call_ids": []}, "by": "ann", "remote_addr": "10.0.0.5",
     "via": "web", "target": null}          ->  {"ok": true, "job": status}
                                                or a refusal (code no-stick, several-sticks,
                                                not-a-stick, stick-problem, busy, bad-selection)
    {"command": "export-status"}            ->  status (runner.py says its shape)
    {"command": "export-cancel"}            ->  {"changed": true | false}

Every field comes from another process: each is checked here, and a bad one is refused with a
sentence, before anything starts.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..config import Config
from ..control import Refused
from ..store import audit_seal
from . import selection
from .runner import ExportRefused, ExportRunner

MAX_CALL_IDS = 20000
MAX_TEXT = 200


def runner_for(config: Config, data_dir: Path) -> ExportRunner:
    """The daemon's runner: sticks under the config's mount root; the seal the config names when
    data_dir is its own data folder (as `hookline export` finds it)."""
    own = Path(config.data_dir).resolve() == Path(data_dir).resolve()
    seal = config.audit_seal_file if own else Path(data_dir) / audit_seal.SEAL_NAME
    return ExportRunner(data_dir, config.export.mount_root, seal_path=seal)


def _text(request: dict[str, Any], key: str) -> str | None:
    value = request.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise Refused(f"{key} must be a short text", "bad-request")
    return value


def parse_selection(raw: Any) -> selection.Selection:
    """The selection a request names ({since, until, line, number, new, call_ids}); Refused with
    code bad-selection when a field is not what it should be."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise Refused("selection must be an object such as {\"new\": true}", "bad-selection")
    unknown = set(raw) - {"since", "until", "line", "number", "new", "call_ids"}
    if unknown:
        raise Refused(f"unknown selection field(s): {', '.join(sorted(unknown))[:MAX_TEXT]}", "bad-selection")
    line, new, ids = raw.get("line"), raw.get("new", False), raw.get("call_ids") or []
    if line is not None and (not isinstance(line, int) or isinstance(line, bool) or not 1 <= line <= 99):
        raise Refused("selection.line must be a line number", "bad-selection")
    if not isinstance(new, bool):
        raise Refused("selection.new must be true or false", "bad-selection")
    if (not isinstance(ids, list) or len(ids) > MAX_CALL_IDS
            or not all(isinstance(i, str) and 0 < len(i) <= 64 for i in ids)):
        raise Refused(f"selection.call_ids must be a list of at most {MAX_CALL_IDS} call ids", "bad-selection")
    try:
        since, until, number = (_text(raw, k) for k in ("since", "until", "number"))
        return selection.Selection(selection.parse_day(since), selection.parse_day(until), line, number, new,
                                   tuple(dict.fromkeys(ids)))
    except selection.SelectionError as e:
        raise Refused(str(e), "bad-selection") from None
    except Refused as e:
        raise Refused(f"selection.{e}", "bad-selection") from None


def start(runner: ExportRunner, request: dict[str, Any]) -> dict[str, Any]:
    sel = parse_selection(request.get("selection"))
    via = _text(request, "via") or "web"
    try:
        status = runner.start(sel, by=_text(request, "by"), via=via[:20], remote_addr=_text(request, "remote_addr"),
                              target=_text(request, "target"))
    except ExportRefused as e:
        raise Refused(str(e), e.code) from None
    return {"ok": True, "job": status}


def handlers(runner: ExportRunner) -> dict[str, Callable[[dict[str, Any]], Any]]:
    return {"export-start": lambda request: start(runner, request),
            "export-status": lambda request: runner.status(),
            "export-cancel": lambda request: {"changed": runner.cancel(via=(_text(request, "via") or "web")[:20],
                                                                       by=_text(request, "by"))}}

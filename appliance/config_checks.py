"""The checks every table of hookline.toml (and a scenario file) goes through: known keys only,
values of the right type and range, each refusal one ConfigError naming the key and the fix."""
from __future__ import annotations

import difflib
from typing import Any


class ConfigError(ValueError):
    """A bad configuration value; str() is the one line a person reads."""

    prefix = "config error"

    def __init__(self, key: str, problem: str, fix: str = "") -> None:
        self.key, self.problem, self.fix = key, problem, fix
        msg = f"{self.prefix}: {key}: {problem}"
        if fix:
            msg += f" ({fix})"
        super().__init__(msg)


def _check_keys(table: dict, allowed: set[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            near = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f"did you mean '{near[0]}'?" if near else f"allowed: {', '.join(sorted(allowed))}"
            raise ConfigError(f"{where}{'.' if where else ''}{key}", "unknown key", hint)


def _get(table: dict, key: str, where: str, kind: type | tuple, default: Any = ..., *,
         lo: float | None = None, hi: float | None = None, choices: tuple | None = None) -> Any:
    name = f"{where}.{key}" if where else key
    if key not in table:
        if default is ...:
            raise ConfigError(name, "missing", "add it")
        return default
    value = table[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        want = " or ".join(k.__name__ for k in kinds)
        raise ConfigError(name, f"must be {want}, got {value!r}")
    if choices is not None and value not in choices:
        raise ConfigError(name, f"{value!r} is not allowed", f"use one of {', '.join(map(repr, choices))}")
    if lo is not None and value < lo or hi is not None and value > hi:
        allowed = f"use {lo} to {hi}" if lo is not None and hi is not None else \
            f"use at least {lo}" if lo is not None else f"use at most {hi}"
        raise ConfigError(name, f"{value!r} is out of range", allowed)
    return value

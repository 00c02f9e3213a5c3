"""The CLI's tables: a header row, then one aligned row per item, two spaces between columns.

What a person reads at a terminal; scripts use --json, whose form docs/cli.md keeps."""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

import click


def _width(text: str) -> int:
    """Columns the text takes at a terminal (wide East Asian characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def lines(headers: Sequence[str], rows: Iterable[Sequence[object]], right: Iterable[int] = ()) -> list[str]:
    """The table as text lines; columns listed in `right` (numbers, lengths) are right-aligned."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]
    right = set(right)
    out = []
    for row in cells:
        padded = [(" " * (w - _width(c)) + c) if i in right else (c + " " * (w - _width(c)))
                  for i, (c, w) in enumerate(zip(row, widths))]
        out.append("  ".join(padded).rstrip())
    return out


def show(headers: Sequence[str], rows: Iterable[Sequence[object]], *, right: Iterable[int] = (),
         note: str | None = None, empty: str = "nothing to show") -> None:
    """Print the table on stdout (with a note above it, e.g. the time zone), or `empty` on
    stderr when there are no rows."""
    rows = list(rows)
    if not rows:
        click.echo(empty, err=True)
        return
    if note:
        click.echo(note)
    for text in lines(headers, rows, right):
        click.echo(text)

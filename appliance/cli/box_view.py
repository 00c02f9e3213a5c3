"""The box as the CLI's tables and messages speak of it: its lines by number and name, times in
its zone, numbers as people write them in its region (appliance.present, the same as the pages);
and the check every command makes on a line it is given."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

from ..present import numbers, zone as zonemod
from ..store import box, catalog
from . import _bad_input

NO_RECORDER_YET = "no recorder has started with this catalog yet, so its lines are not known"


@dataclass(frozen=True)
class BoxView:
    facts: box.BoxFacts
    zone: tzinfo

    @classmethod
    def of(cls, db) -> "BoxView":
        facts = box.facts(db)
        return cls(facts, zonemod.box_zone(facts.timezone))

    # -- how things read --------------------------------------------------------------------
    def time(self, iso_text: str | None) -> str:
        return zonemod.local(iso_text, self.zone) if iso_text else ""

    def zone_note(self) -> str:
        """Said once above a table of times."""
        return f"times in {zonemod.zone_label(self.zone)}"

    def number(self, number: str | None) -> str:
        return numbers.readable(number, self.facts.phone_region)

    def line(self, line_id: int | None) -> str:
        """'2 Warehouse'; a line with only its default name is just its number."""
        if line_id is None:
            return ""
        name = self.facts.line_name(line_id)
        return str(line_id) if name == f"Line {line_id}" else f"{line_id} {name}"

    def lines(self, line_ids=None) -> str:
        """'1 Front desk, 2 Warehouse' (the box's lines, or these), for messages."""
        return ", ".join(self.line(n) for n in sorted(self.facts.lines if line_ids is None else line_ids))

    # -- lines a person names ---------------------------------------------------------------
    def check_line(self, line_id: int, also: list[int] | tuple[int, ...] = ()) -> bool:
        """Refuse (exit 2) a line this box does not have; `also`: lines known otherwise (the
        ones that have calls). False when nothing is known to check it against."""
        known = set(self.facts.lines) | set(also)
        if line_id in known:
            return True
        if known:
            _bad_input(f"there is no line {line_id} (lines: {self.lines(known)})")
        if line_id < 1:
            _bad_input(f"there is no line {line_id} (lines are numbered from 1)")
        return False

    def check_line_with_calls(self, db, line_id: int) -> bool:
        """check_line, counting the lines that have calls (a line taken out of the config keeps them)."""
        return self.check_line(line_id, catalog.line_ids(db))

"""How the box's facts read for people: times in the box's zone, phone numbers as they are
written where the office is. Shared by the web pages and the CLI's tables; JSON and CSV keep
the raw values (ISO 8601 with offset, digits as stored)."""

"""One telephone line: its thread (thread.py) and the small parts it dispatches to."""
from .thread import BACKOFF_MAX_S, Line, dbfs

__all__ = ["BACKOFF_MAX_S", "Line", "dbfs"]

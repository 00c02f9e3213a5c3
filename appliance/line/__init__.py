"""One telephone line: its thread (thread.py) and the small parts it dispatches to."""
from .batch import dbfs
from .thread import BACKOFF_MAX_S, Line

__all__ = ["BACKOFF_MAX_S", "Line", "dbfs"]

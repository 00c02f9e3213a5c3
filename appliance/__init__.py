"""Hookline: the recorder appliance (everything on the box except the web page)."""

__version__ = "0.1.0"

"""Hookline: the recorder appliance (everything on the box except the web page)."""
import os

# Before anything imports numpy: OpenBLAS would start a thread per core that spin-waits after each
# of the DTMF decoder's small matrix products (7 % of a recording process's CPU, for nothing: each
# line already has its own thread). A value set by the caller is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"

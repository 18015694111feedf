"""dlviz: the library behind the dlviz app.

Every concept page is a thin Streamlit layer over a module here; the library never imports
streamlit, so everything can be used from a notebook, a script or a test.

Sub-modules are imported lazily (``dlviz.data``, ``dlviz.train``, ...) so that ``import dlviz``
stays cheap.
"""

from __future__ import annotations

import os

__version__ = "0.1.0"

# dlviz runs small models on laptop CPUs, usually with a training thread beside an analysis thread.
# Spinning OpenMP/BLAS worker threads then fight over the cores and everything slows down 10x or more.
# Passive waits and single-threaded numpy BLAS avoid that. setdefault: an explicit setting wins, and
# it only takes effect if torch/numpy have not been imported yet.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

"""dlviz: the library behind the dlviz app.

Every concept page is a thin Streamlit layer over a module here; the library never imports
streamlit, so everything can be used from a notebook, a script or a test.

Sub-modules are imported lazily (``dlviz.data``, ``dlviz.train``, ...) so that ``import dlviz``
stays cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"

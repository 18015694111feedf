"""Classic CNN architectures, measured: per-layer output shape, parameters, multiply-adds and depth.

The page: ``pages/architectures.py``. Modules: ``blocks``, ``core``, ``plots``.
"""

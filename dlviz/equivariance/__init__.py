"""Equivariance and invariance: does a network commute with a transformation of its input?

The page: ``pages/equivariance.py``. Modules: ``core``, ``plots``, ``recipes``.
"""

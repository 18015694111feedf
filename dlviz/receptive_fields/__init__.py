"""Receptive fields: which input pixels can change one unit of a CNN layer.

The page: ``pages/receptive_fields.py``. Modules: ``core``, ``effective``, ``plots``, ``tracer``.
"""

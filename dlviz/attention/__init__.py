"""Transformer attention, measured: which token each head reads, and whether that is the algorithm.

The page: ``pages/attention.py``. Modules: ``core``, ``plots``, ``recipes``, ``training``.
"""

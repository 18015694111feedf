"""Batch normalisation: side-by-side training, internal covariate shift, learning-rate tolerance.

The page: ``pages/batchnorm.py``. Modules: ``core``, ``domain_shift``, ``plots``, ``recipes``.
"""

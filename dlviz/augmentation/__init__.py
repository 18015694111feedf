"""Data augmentation with torchvision's transforms v2: build a pipeline from a spec, preview it, train with it.

The page: ``pages/augmentation.py``. Modules: ``core``.
"""

"""Activation functions and loss functions, measured: values, derivatives, saturation, dead units.

The page: ``pages/activations_losses.py``. Modules: ``core``, ``plots``, ``recipes``.
"""

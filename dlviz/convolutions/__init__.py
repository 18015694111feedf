"""Convolution, the operation: kernels, stride, padding, dilation and the output-size formula.

The page: ``pages/convolutions.py``. Modules: ``core``, ``training``, ``views``, ``recipes``.
"""

"""Residual connections and gradient flow: where the gradient goes in plain and residual networks.

The page: ``pages/resnet_gradients.py``. Modules: ``core``, ``training``, ``loss_landscape``, ``views``, ``plots``.
"""

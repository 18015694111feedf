"""Denoising diffusion: the noise schedule, the forward process and the DDPM / DDIM samplers.

The page: ``pages/ddpm.py``. Modules: ``core``, ``plots``, ``quality``, ``recipes``, ``training``, ``views``.
"""

"""The curse of dimensionality (Bellman, 1961; Beyer et al., 1999, "When is 'nearest neighbor'
meaningful?"): in high dimension distances concentrate, volume moves to the corners and the shell,
and nearest-neighbour methods stop working -- unless the model is told where the structure is, which
is what a convolution does for images (weight sharing and locality).

The page: ``pages/curse_of_dimensionality.py``. Modules: ``core``, ``views``, ``plots``.
"""

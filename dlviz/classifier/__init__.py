"""Train a classifier: the first coursework's loop -- data, architecture, loss, optimiser, schedule,
augmentation -- and the measurements that tell you what the trained model gets wrong.

The page: ``pages/classifier.py``. Modules: ``core``, ``data``, ``plots``, ``recipes``.
"""

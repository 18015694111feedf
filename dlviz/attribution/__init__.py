"""Attribution: which input pixels made a classifier say what it said -- and do the maps really depend
on the model? All methods come from captum (Kokhlikyan et al. 2020), imported lazily:

The page: ``pages/attribution.py``. Modules: ``core``, ``plots``.
"""

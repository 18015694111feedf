"""TEMPLATE -- copy this folder to ``dlviz/<concept>/`` (named like ``pages/<concept>.py``) and rename.

Replace this docstring with the concept in one line and the paper(s) it comes from, e.g.
"Batch normalisation (Ioffe & Szegedy, 2015): what it changes inside a net and what it costs at test time."

A package has only the files it needs, with these fixed names:
  core.py      the mathematics and analysis: arrays and dataclasses in, arrays and dataclasses out
  training.py  the only place this concept builds a dlviz.train.Trainer (the page, recipes and benchmarks call it)
  views.py     arrays prepared for display (never figures), e.g. the landing-page thumbnail
  plots.py     plotly figures, pure functions of the results of core.py
  recipes.py   the concept's shipped checkpoints (found by dlviz.recipes.all_recipes() automatically)
A model used by several concepts goes in dlviz/models/ (the registry); so does any model a checkpoint stores.
This package is never imported by the app (its name starts with an underscore).
"""

"""Inside a recurrent network: hidden states, interpretable units, gates, gradients through time, sampling.

The page: ``pages/rnn_hidden_states.py``. Modules: ``core``, ``plots``, ``recipes``, ``sampling``, ``text_features``, ``training``.
"""

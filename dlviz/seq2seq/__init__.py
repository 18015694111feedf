"""Encoder-decoders and the birth of attention: Cho et al. (2014) and Sutskever, Vinyals & Le (2014)
squeeze the source into one fixed-length vector; Bahdanau, Cho & Bengio (2015, "Neural machine
translation by jointly learning to align and translate") let the decoder attend to every encoder state,
and Luong, Pham & Manning (2015) simplified the score to a dot product.

:mod:`dlviz.seq2seq.core`: decoding (greedy, beam search), the alignment score against the task's known
alignment, exact match by input length; :mod:`dlviz.seq2seq.training`: the live Trainer (teacher-forcing
ratio); tasks in :mod:`dlviz.data.seq2seq_tasks`, the model in :mod:`dlviz.models.seq2seq`.
"""

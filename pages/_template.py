"""TEMPLATE page -- copy to ``pages/<concept>.py`` (a leading underscore keeps this file out of the app).

A page is thin: controls -> dlviz.<concept> -> plotly figure. Each numbered section is a function, called in
order at the bottom, so the page's plan reads in its last lines; a section passes what it produced to the
sections below it as arguments, never through globals.
"""

from __future__ import annotations

import streamlit as st
import torch
import ui

from dlviz._template import core, plots, training

PAGE_INFO = {                                   # read with ast by app/Home.py: keep it a literal
    "title": "Template",
    "icon": ":material/content_copy:",
    "section": "CNNs",                          # CNNs | Training deep nets | Generative models | Sequence models | Classifier lab
    "order": 999,
    "question": "What question does this page answer?",
    "thumbnail": "dlviz._template.views:thumbnail",
}
RUN = "tpl"                                     # the training panel's key


@st.cache_data(show_spinner=False, max_entries=16)
def cached_measure(model_key: str, n: int, _model) -> core.Measurement:
    """Keyed by ``Picked.key`` (``_model`` is not hashed): a slider move is a cache hit."""
    from dlviz.data import food_shapes

    return core.measure(_model, food_shapes(n, seed=1).images)


def sidebar_training() -> None:
    """Sidebar: live training with the shared panel (runs in a background thread)."""
    st.sidebar.header("Train")
    hp = ui.hyperparameters(RUN, lr=1e-3, steps=200, batch_size=64)

    def start():
        from dlviz.data import food_shapes
        from dlviz.models import build_model

        torch.manual_seed(ui.session().seed)
        model = build_model("small_cnn", in_channels=3, image_size=32, num_classes=10)
        trainer = training.make_trainer(model, food_shapes(1000, seed=0), steps=hp.steps, lr=hp.lr,
                                        batch_size=hp.batch_size, optimizer=hp.optimizer, seed=ui.session().seed,
                                        device=ui.session().device)
        return trainer, {"dataset": "food_shapes(1000, seed=0)"}        # the Run's card

    ui.training_panel(RUN, start)
    ui.training_monitor(RUN, metrics=("loss", "test_acc"))


def choose_model() -> ui.Picked | None:
    """1 · The model: shipped, trained live here, or uploaded -- one picker on every page."""
    return ui.model_picker(RUN, {"shipped food CNN": "food_cnn"}, run_key=RUN, expected_arch="small_cnn")


def measurement(picked: ui.Picked) -> None:
    """2 · The measurement that makes the concept falsifiable, as a number and a figure."""
    st.header("2 · The measurement")
    n = st.slider("Images", 16, 256, 64, step=16, key="tpl-n")
    m = cached_measure(picked.key, n, picked.model)
    st.metric("Mean output norm", f"{m.mean:.3f}")
    ui.show(plots.measurement_figure(m), key="tpl-measure")


ui.page_header(PAGE_INFO, "Two lines: the concept, and the question this page answers.")
sidebar_training()
picked = choose_model()
if picked is None:
    st.stop()
measurement(picked)
ui.try_this(["A prompt that leads to the surprising case -- promise only what the shipped model does."])

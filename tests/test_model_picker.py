"""ui.model_picker: shipped / my trained model / upload in one widget, with one cache-key scheme."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _script():
    import streamlit as st
    import torch
    import ui

    from dlviz.metrics import classification_loss
    from dlviz.models import build_model
    from dlviz.train import Trainer, make_optimizer

    def start():
        torch.manual_seed(0)
        m = build_model("small_cnn", in_channels=1, image_size=8, num_classes=10)
        x, y = torch.rand(16, 1, 8, 8), torch.randint(0, 10, (16,))
        t = Trainer(m, loss_fn=classification_loss, optimizer=make_optimizer("SGD", m.parameters(), 0.01),
                    batches=iter(lambda: (x, y), None), steps=3, name="mini")
        return t, {"dataset": "random 8x8"}

    if st.session_state.get("go"):
        st.session_state["go"] = False
        ui.training_panel("pick", start)
        ui.get_run("pick").trainer.join(30)
    else:
        ui.training_panel("pick", start)
    picked = ui.model_picker("pick", {"shipped digits CNN": "digits_cnn"}, run_key="pick", expected_arch="small_cnn")
    if picked is not None:
        st.write(f"KEY={picked.key}|SRC={picked.source}|DATA={picked.card.get('dataset', '')}")


def test_shipped_then_trained_then_upload_prompt():
    at = AppTest.from_function(_script, default_timeout=60).run()
    assert not at.exception
    box = at.sidebar.selectbox(key="pick-model")
    assert box.options == ["shipped digits CNN", "upload a checkpoint"]
    assert "KEY=shipped:digits_cnn|SRC=shipped" in at.markdown[-1].value
    at.session_state["go"] = True
    at.sidebar.button(key="pick-train").click().run()
    assert not at.exception
    at.run()
    box = at.sidebar.selectbox(key="pick-model")
    assert box.options[-2:] == ["my trained model", "upload a checkpoint"]
    assert box.value == "my trained model"           # a new run is shown as soon as it exists
    text = at.markdown[-1].value
    assert "SRC=trained" in text and "DATA=random 8x8" in text and text.split("|")[0].endswith("@3")
    assert any("step 3 of 3" in c.value for c in at.sidebar.caption)
    assert at.sidebar.get("download_button")                 # the trained model can be kept as a file
    box.select("upload a checkpoint").run()
    assert not at.exception
    assert not [m for m in at.markdown if m.value.startswith("KEY=")]   # nothing to show until a file comes

"""AppTest checks of the classifier lab's pages beyond their default render: the student's own folder
(missing, one class, fine), the attribution page's other models and its numbers, the augmentation
preview's mixed labels."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from pagetest import run_snippet

PAGES = Path(__file__).resolve().parent.parent / "pages"


def _app(name: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=180)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _folder(root: Path, classes: dict[str, int]) -> Path:
    from PIL import Image

    for i, (name, n) in enumerate(classes.items()):
        (root / name).mkdir(parents=True)
        for j in range(n):
            Image.new("RGB", (40, 30), (40 * i, 10 * j, 200)).save(root / name / f"{j}.png")
    return root


def test_classifier_page_explains_a_bad_or_small_folder(tmp_path) -> None:
    at = _app("classifier")
    at.selectbox(key="clf-source").set_value("image folder").run()
    assert any("Enter the path" in e.value for e in at.error)
    at.text_input(key="clf-folder").input(str(tmp_path / "missing")).run()
    assert not at.exception and any("does not exist" in e.value for e in at.error)
    one = _folder(tmp_path / "one", {"hotdog": 6})
    at.text_input(key="clf-folder").input(str(one)).run()
    assert not at.exception and any("at least two" in e.value for e in at.error)
    ok = _folder(tmp_path / "ok", {"hotdog": 8, "not hotdog": 8})
    at.text_input(key="clf-folder").input(str(ok)).run()
    assert not at.exception and not at.error
    assert any("13 train / 3 validation" in c.value or "validation images in 2 classes" in c.value for c in at.caption)


def test_attribution_page_other_model_and_consistent_completeness_numbers() -> None:
    at = _app("attribution")
    at.selectbox(key="attr-model").set_value("food_lenet5").run()
    at.toggle(key="attr-wrong").set_value(True).run()
    assert not at.exception and not at.error
    m = {x.label: x.value for x in at.metric}
    total, diff, gap = (float(m[k].replace("−", "-")) for k in ("Σ attributions", "f(x) − f(x')", "Gap"))
    assert gap == pytest.approx(total - diff, abs=2e-4)       # the three numbers shown agree with each other
    assert any("which is wrong" in c.value for c in at.caption)
    at.selectbox(key="attr-model").set_value("digits_cnn").run()       # a 1-channel 16x16 model
    assert not at.exception and not at.error
    at.radio(key="attr-src").set_value("photo or upload").run()         # an RGB photo, made grey for it
    assert not at.exception and not at.error


def test_augmentation_preview_shows_mixed_labels() -> None:
    at = _app("augmentation")
    at.multiselect(key="aug-names-food").set_value(["hflip", "mixup"]).run()
    assert not at.exception
    text = " ".join(str(e.proto) for e in at.get("image"))
    assert "% " in text and " + " in text                      # e.g. "62% hotdog + 38% donut"


@pytest.mark.slow
def test_attribution_sanity_check_renders_a_verdict_per_method() -> None:
    at = _app("attribution")
    at.toggle(key="attr-sanity").set_value(True).run()
    assert not at.exception
    labels = {x.label for x in at.metric}
    assert {"Saliency", "Integrated Gradients", "SmoothGrad", "Grad-CAM", "Occlusion"} <= labels


# ------------------------------------------------------------------------------------------- issue 15 / 17
@pytest.mark.parametrize("path, said", [
    ("x" * 1_000_000, "characters long"),                        # a pasted megabyte (was OSError: File name too long)
    ("/tmp/a\x00b", "NUL"),
    ("/tmp/" + "y" * 300 + "/food", "longer than 255"),
], ids=["1MB", "NUL", "long-name"])
def test_classifier_folder_box_explains_impossible_paths(path, said) -> None:
    at = _app("classifier")
    at.selectbox(key="clf-source").set_value("image folder").run()
    at.text_input(key="clf-folder").input(path).run()
    assert not at.exception, [e.value for e in at.exception]
    msgs = [e.value for e in at.error]
    assert any(said in m for m in msgs), msgs
    assert all(len(m) < 400 for m in msgs)                      # the path is not echoed back whole


def test_zip_messages_do_not_name_the_servers_temporary_folder() -> None:
    import io
    import tempfile
    import zipfile

    from dlviz.classifier import core as C
    from dlviz.data import DataError

    def zipped(files: dict[str, bytes]) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for name, raw in files.items():
                z.writestr(name, raw)
        return buf.getvalue()

    cases = {"loose files": {"a.png": b"x", "b.png": b"y"},       # no class sub-folders
             "one class": {"only/a.png": b"x"},
             "one class in a top folder": {"top/only/a.png": b"x", "top/only/b.png": b"y"},
             "unreadable": {"food/hotdog/a.png": b"not a png", "food/pizza/b.png": b"nor this"}}
    for why, files in cases.items():
        with pytest.raises(DataError) as e:
            C.image_folder_from_zip(zipped(files))
        msg = str(e.value)
        assert tempfile.gettempdir() not in msg and "dlviz-folder-" not in msg, (why, msg)
        assert "zip" in msg, (why, msg)


def test_accuracy_axes_span_zero_to_one() -> None:
    """Issue 15: an accuracy axis read -1..1 before the first evaluation (plotly's empty axis)."""
    from dlviz.classifier import plots as P

    for hist in ({}, {"val_acc": ([10], [0.1])}, {"train_acc": ([10, 20], [0.5, 0.6]), "val_acc": ([10, 20], [0.4, 0.5]),
                                                  "train_loss": ([10], [1.0]), "val_loss": ([10], [1.2])}):
        fig = P.curves_figure({"": hist})
        assert list(fig.layout.yaxis.range) == [0, 1] and fig.layout.yaxis.tickformat == ".0%"
        assert fig.layout.yaxis2.range is None                    # the loss keeps its own scale
        fig = P.curves_figure({"": hist}, (("train_loss", "val_loss"), ("train_acc", "val_acc")))
        assert fig.layout.yaxis.range is None and list(fig.layout.yaxis2.range) == [0, 1]


@pytest.mark.slow
def test_classifier_page_trains_and_reproduces_its_headline_from_the_downloaded_model(tmp_path) -> None:
    """Issue 17: after a short run the page's snippet names the file "Download this model" gives; with that file
    it prints the page's validation accuracy. And no chart shows accuracy on a free axis."""
    import json

    from dlviz.checkpoints import checkpoint_bytes

    at = _app("classifier")
    at.sidebar.select_slider(key="clf-n").set_value(250)
    at.sidebar.number_input(key="clf-steps").set_value(20)
    at.sidebar.button(key="clf-train").click().run()
    run = at.session_state["dlviz-run-clf"]
    run.trainer.join(240)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="clf-model").value.startswith("my trained model")
    shown = next(m.value for m in at.metric if m.label == "Validation accuracy")
    code = next(c.value for c in at.code if c.value.startswith("# dlviz notebook snippet"))
    fname = code.split("load_checkpoint(")[1].split(")")[0].strip("'\"")
    t = run.trainer
    card = {**run.card, "steps": t.step, "summary": "", "metrics": {k: t.latest(k) for k in t.history()}}
    (tmp_path / fname).write_bytes(checkpoint_bytes(t.model_copy(), card, fname[:-3]))
    assert run_snippet(code, cwd=tmp_path).split()[-1] == shown
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        titles = [a.get("text", "") for a in spec["layout"].get("annotations", [])]
        assert not {"acc", "val_acc", "train_acc"} & set(titles), titles     # the shared monitor shows the loss only
        for i, title in enumerate(titles, 1):
            if title.startswith("acc:"):
                assert spec["layout"]["yaxis" + ("" if i == 1 else str(i))]["range"] == [0, 1]


@pytest.mark.slow
@pytest.mark.parametrize("page, key", [("classifier", "clf"), ("augmentation", "aug"), ("activations_losses", "dead"),
                                       ("unet", "unet")])
def test_the_largest_learning_rate_ends_in_a_message(page, key) -> None:
    """Issue 15: at learning rate 10 these runs finished with no word (the loss spiked inside the Trainer's early
    window, then the net sat at chance or painted one class). The page now says what happened."""
    at = _app(page)
    at.sidebar.select_slider(key=f"{key}-lr").set_value(10.0)
    at.sidebar.number_input(key=f"{key}-steps").set_value(150)
    small = {"clf": ("clf-n", 250), "aug": ("aug-exp-n", 100), "unet": ("unet-n", 20)}.get(key)
    if small:
        at.sidebar.select_slider(key=small[0]).set_value(small[1])
    at.run()
    at.sidebar.button(key=f"{key}-train").click().run()
    run = at.session_state[f"dlviz-run-{key}"]
    for t in run.trainers.values():
        t.join(300)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    said = [w.value for w in at.warning] + [e.value for e in at.error]
    assert any(w in m for m in said for w in ("spiked", "chance", "paints every test pixel", "diverged")), said

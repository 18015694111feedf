"""AppTest checks of the classifier lab's pages beyond their default render: the student's own folder
(missing, one class, fine), the attribution page's other models and its numbers, the augmentation
preview's mixed labels."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

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

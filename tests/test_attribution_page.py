"""The attribution page in AppTest: Occlusion with a stride larger than its patch is clamped (not a captum
exception), a checkpoint of another kind is refused in words and a model without plain conv maps gets every
method but Grad-CAM (with the reason), the controls are in the URL, and the notebook snippet prints the
number shown."""

from __future__ import annotations


import pytest
import torch
from streamlit.testing.v1 import AppTest

from dlviz.attribution import core as attr
from dlviz.checkpoints import shipped
from pagetest import PAGES, errors, run_snippet

PAGE = str(PAGES / "attribution.py")


def _app(**params) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=240)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _upload(at: AppTest, name: str) -> AppTest:
    at.sidebar.selectbox(key="attr-model").set_value("upload a checkpoint").run()
    up = next(u for u in at.get("file_uploader") if u.key == "attr-ckpt-upload")
    up.set_value((f"{name}.pt", shipped()[name].path.read_bytes(), "application/octet-stream")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _snippet_output(at: AppTest) -> str:
    code = next(c.value for c in at.code if c.value.startswith("# dlviz notebook snippet"))
    return run_snippet(code).strip().splitlines()[-1]


def test_occlusion_stride_larger_than_the_patch_is_clamped():
    """Issue 15: patch 2 with stride 3 raised captum's "stride larger than window"."""
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                            torch.nn.Linear(256, 3)).eval()
    got = attr.attribute(m, x, 1, "Occlusion", attr.Params(occ_window=2, occ_stride=3))
    torch.testing.assert_close(got, attr.attribute(m, x, 1, "Occlusion", attr.Params(occ_window=2, occ_stride=2)))
    assert attr.occlusion_window(attr.Params(occ_window=2, occ_stride=3), 8) == (2, 2)
    assert attr.occlusion_window(attr.Params(occ_window=40, occ_stride=9), 32) == (32, 9)
    at = _app(**{"attr-occw": "2", "attr-occs": "3"})
    assert not errors(at), errors(at)
    assert any("2-px patch with stride 2" in c.value for c in at.caption)


@pytest.mark.parametrize("name, arch", [("equi_mlp", "equi_mlp"), ("equi_p4", "equi_cnn"),
                                        ("mlp_relu_lr_ok", "act_mlp")])
def test_models_without_plain_conv_maps_get_every_method_but_grad_cam(name, arch):
    """Issue 15: an MLP, the p4 network and equi_mlp raised ValueError from Grad-CAM / LayerAttribution.interpolate."""
    at = _upload(_app(), name)
    assert not errors(at), errors(at)
    info = " ".join(i.value for i in at.info)
    assert "**Grad-CAM** is not offered for this model" in info
    assert ("rotation axis" in info) == (name == "equi_p4")
    assert ("no convolutional layer" in info) == (name != "equi_p4")
    assert [m.label for m in at.metric][:1] == ["Σ attributions"]
    at.toggle(key="attr-sanity").set_value(True).run()                 # the sanity check runs the same methods
    assert not errors(at), errors(at)
    labels = {m.label for m in at.metric}
    assert {"Saliency", "Integrated Gradients", "SmoothGrad", "Occlusion"} <= labels and "Grad-CAM" not in labels


@pytest.mark.parametrize("name", ["unet_foods", "attn_sort", "vae_digits2", "dcgan_digits"])
def test_a_checkpoint_of_another_kind_is_refused_in_words(name):
    at = _upload(_app(), name)
    msgs = [e.value for e in at.error]
    assert len(msgs) == 1 and "cannot be explained here" in msgs[0] and "image classifier" in msgs[0]
    assert "Error" not in msgs[0] and "mat1" not in msgs[0] and "shape" not in msgs[0].lower().split("(logits")[0]


def test_every_shipped_checkpoint_is_explained_or_refused_cleanly():
    from dlviz.checkpoints import load_shipped

    explained = []
    for name in shipped():
        model, card = load_shipped(name)
        try:
            ex = attr.explainability(model, card)
        except attr.NotExplainable as e:
            assert "This page explains" in str(e)
            continue
        explained.append(name)
        x = torch.rand(1, ex.channels, ex.size, ex.size)
        for m in ex.methods:                                         # every method offered works
            a = attr.attribute(model.eval(), x, 0, m, attr.Params(ig_steps=4, sg_samples=2))
            assert a.shape == x.shape, (name, m)
    assert {"food_cnn", "food_lenet5", "digits_cnn", "equi_mlp", "equi_p4", "vit_food"} <= set(explained)


def test_controls_are_bound_and_the_snippet_prints_the_sum_shown():
    at = _app(**{"attr-idx": "7", "attr-igsteps": "16", "attr-baseline": "blurred"})
    assert not errors(at), errors(at)
    keyed = [w for kind in ("selectbox", "radio", "slider", "select_slider", "toggle")
             for w in getattr(at, kind) if w.key and not w.key.startswith("dlviz_") and not w.key.endswith("-photo")]
    assert keyed and all(w.proto.query_param_key == w.key for w in keyed), \
        [w.key for w in keyed if w.proto.query_param_key != w.key]
    assert _image_caption(at).startswith("validation #7 ")
    shown = next(m.value for m in at.metric if m.label == "Σ attributions")
    assert _snippet_output(at) == shown
    at.radio(key="attr-src").set_value("photo or upload").run()
    shown = next(m.value for m in at.metric if m.label == "Σ attributions")
    assert _snippet_output(at) == shown


def _image_caption(at: AppTest) -> str:
    return next(e.proto.imgs[0].caption for e in at.main if getattr(e, "type", "") in ("image", "imgs"))


def test_a_new_image_explains_its_own_prediction_but_a_link_keeps_its_target():
    from dlviz.checkpoints import load_shipped
    from dlviz.classifier.core import load_data

    model, _ = load_shipped("food_cnn")
    val = load_data("food shapes", n_train=10, n_val=1000, size=32).val
    with torch.no_grad():
        preds = model.eval()(val.images[:40]).argmax(1).tolist()
    j = next(i for i in range(1, 40) if preds[i] != preds[0])         # an image predicted as another class
    at = _app()
    assert at.selectbox(key="attr-target").value == preds[0]
    at.sidebar.slider(key="attr-idx").set_value(j).run()
    box = at.selectbox(key="attr-target")
    assert box.value == preds[j] and box.options[box.index].endswith("(predicted)")
    other = (preds[j] + 1) % 10
    at = _app(**{"attr-idx": str(j), "attr-target": box.options[other]})   # the link holds the class's label
    assert at.selectbox(key="attr-target").value == other
    assert _image_caption(at).startswith(f"validation #{j} ")


def test_another_models_smaller_bounds_clamp_the_sliders():
    """The image index and the occlusion sliders keep their values across models; a smaller model lowers their
    bounds (digits: 359 test images, 16 px) and the kept values must follow, not raise."""
    at = _app(**{"attr-idx": "900", "attr-occw": "16", "attr-occs": "8"})
    at.sidebar.selectbox(key="attr-model").set_value("digits_cnn").run()
    assert not errors(at), errors(at)
    assert at.slider(key="attr-idx").value == at.slider(key="attr-idx").max < 900
    assert at.slider(key="attr-occw").value == 8 and at.slider(key="attr-occs").value == 4

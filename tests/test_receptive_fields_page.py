"""The receptive-fields page in AppTest: its captions say what the clipped regions say, its "try this" prompts
come true, its default stack shows the effective field smaller than the box, and its notebook snippet prints
the number the page shows."""

from __future__ import annotations


import pytest

from pagetest import errors, rendered, run_snippet
from streamlit.testing.v1 import AppTest

from dlviz.receptive_fields import core as rfm
from dlviz.receptive_fields import views

PAGE = "receptive_fields"
DILATED = "dilated VGG-like: every conv dilation 2"


def _app(**params) -> AppTest:
    from pagetest import PAGES

    at = AppTest.from_file(str(PAGES / f"{PAGE}.py"), default_timeout=180)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not errors(at), errors(at)
    return at


def _snippet_output(at: AppTest) -> str:
    code = next(c.value for c in at.code if c.value.startswith("# dlviz notebook snippet"))
    return run_snippet(code).strip().splitlines()[-1]


def test_field_wider_than_the_input_caption_matches_a_brute_force_probe():
    """Issue 15: "every unit sees the whole image plus padding" was false. On a small stack whose field (13 px)
    is wider than its 8-px input, the caption's rows for unit (0, 0) and its count of units seeing everything
    must be what perturbing every pixel finds."""
    model = rfm.build_stack([rfm.LayerSpec("conv", 5, 1, 2)] * 3, in_channels=1, channels=1)
    row = rfm.receptive_field(model, 8)[-1]
    assert row.rf == (13.0, 13.0)
    hit = rfm.probe(model, 8, None)                          # (64 pixels, 8, 8)
    rows_00 = sorted({p // 8 for p in range(64) if hit[p, 0, 0]})
    sees_all = int(hit.all(0).sum())
    text = views.field_vs_input(row, (8, 8))
    assert f"unit (0, 0) sees rows {rows_00[0]}–{rows_00[-1]}, columns {rows_00[0]}–{rows_00[-1]}" in text
    assert rows_00 == list(range(7))                         # a 13-px window centred on pixel 0 reaches pixel 6
    assert f"{sees_all} of the 64 units" in text and 0 < sees_all < 64
    assert "plus padding" not in text
    assert views.field_vs_input(rfm.receptive_field(model, 16)[-1], (16, 16)) is None


def test_resnet50_layer4_caption_states_its_clipped_region():
    at = _app(**{"rf-arch": "ResNet-50"})
    at.selectbox(key="rf-layer").set_value("layer4").run()
    assert not errors(at), errors(at)
    row = next(r for r in rfm.receptive_field(rfm.torchvision_model("ResNet-50"), 224) if r.name == "layer4")
    t, lft, b, r = row.clipped_region(0, 0, (224, 224))
    caps = " ".join(c.value for c in at.caption)
    assert (t, lft, b, r) == (0, 0, 213, 213)
    assert "The field (427 px) is wider than the 224-px input" in caps
    assert "unit (0, 0) sees rows 0–213, columns 0–213" in caps and "36 of the 49 units" in caps
    assert "whole image plus padding" not in caps


def test_dilation_holes_try_this_comes_true():
    """Issue 15: the prompt promised holes on the default layer, which has none. Now: the dilated stack has holes
    at conv2 (before the first max-pool) and none at conv5 (after it), as the prompt says."""
    at = _app(**{"rf-family": "My own stack", "rf-preset": DILATED, "rf-layer": "conv2"})
    at.button(key="rf-probe").click().run()
    assert not errors(at), errors(at)
    info = " ".join(x.value for x in at.info)
    assert "Only 25 of the 81 pixels" in info and "holes" in info
    at.selectbox(key="rf-layer").set_value("conv5").run()
    at.button(key="rf-probe").click().run()
    assert not errors(at), errors(at)
    assert any(s.value.startswith("All 676 pixels") for s in at.success), [s.value for s in at.success]
    prompt = " ".join(m.value for m in at.markdown)
    assert "only 25 of its 81 pixels" in prompt


def test_default_stack_shows_an_erf_smaller_than_its_box_and_says_when_it_is_not():
    """Issue 15: the old default stack's ERF was the whole 14-px box (100 %), against the intro's blob."""
    at = _app(**{"rf-family": "My own stack"})
    m = {x.label: x for x in at.metric}
    assert m["Receptive field"].value == "33 × 33 px"             # the last of 16 3x3 convs
    erf = m["ERF size (95% of |grad|)"]
    share = int(erf.delta.split("%")[0])
    assert share == round(100 * int(erf.value.split()[0]) / 33) and share < 90
    assert not any("at least 90 %" in c.value for c in at.caption)
    at.selectbox(key="rf-preset").set_value("VGG-like: conv conv pool, twice, conv").run()
    at.selectbox(key="rf-layer").set_value("conv2").run()
    m = {x.label: x for x in at.metric}
    assert m["ERF size (95% of |grad|)"].value == "5 px"         # two 3x3 convs: the ERF is the box
    assert any("at least 90 %" in c.value for c in at.caption)


@pytest.mark.parametrize("params", [{}, {"rf-family": "My own stack", "rf-preset": DILATED},
                                    {"rf-family": "App model (trained)"}])
def test_notebook_snippet_prints_the_receptive_field_shown(params):
    at = _app(**params)
    shown = next(x.value for x in at.metric if x.label == "Receptive field")
    assert _snippet_output(at) == shown


def test_input_size_follows_the_architecture_unless_the_link_sets_it():
    at = _app(**{"rf-arch": "Inception v3"})
    assert at.select_slider(key="rf-size").value == 299
    at.selectbox(key="rf-arch").set_value("ResNet-18").run()
    assert at.select_slider(key="rf-size").value == 224
    at = _app(**{"rf-arch": "Inception v3", "rf-size": "160"})
    assert at.select_slider(key="rf-size").value == 160
    layer = at.selectbox(key="rf-layer").value
    row = next(r for r in rfm.receptive_field(rfm.torchvision_model("Inception v3"), 160) if r.name == layer)
    assert next(x.value for x in at.metric if x.label == "Output size") == "×".join(map(str, row.out_shape))


def test_every_value_widget_is_bound_to_the_url():
    for params in ({}, {"rf-family": "My own stack"}, {"rf-family": "App model (trained)"}):
        at = _app(**params)
        unbound = [w.key for kind in ("selectbox", "radio", "slider", "select_slider", "toggle", "number_input")
                   for w in getattr(at, kind) if w.key and not w.key.startswith("dlviz_")
                   and not w.proto.query_param_key and not w.key.endswith("-photo")]
        assert not unbound, (params, unbound)


def test_unit_sliders_start_at_the_centre_and_take_the_link():
    at = rendered(PAGE)
    layer = at.selectbox(key="rf-layer").value
    tag = "".join(ch if ch.isalnum() else "_" for ch in layer)
    row = next(r for r in rfm.receptive_field(rfm.torchvision_model("ResNet-50"), 224) if r.name == layer)
    assert at.slider(key=f"rf-i-{tag}").value == (row.size[0] - 1) // 2
    at = _app(**{f"rf-i-{tag}": "0", f"rf-j-{tag}": "1"})
    assert any(m.label == "Unit (0, 1) sees rows / columns" for m in at.metric)


def test_a_smaller_input_under_a_far_unit_keeps_the_page_alive():
    """Monkey test find: the unit row kept its value (10) when a smaller input shrank the map to 6 rows."""
    at = rendered(PAGE)
    layer = at.selectbox(key="rf-layer").value
    tag = "".join(ch if ch.isalnum() else "_" for ch in layer)
    at.slider(key=f"rf-i-{tag}").set_value(13).run()
    at.select_slider(key="rf-size").set_value(96).run()
    assert not errors(at), errors(at)
    assert at.slider(key=f"rf-i-{tag}").value == at.slider(key=f"rf-i-{tag}").max

"""Architecture measurements against independent counts.

Parameters vs ``sum(p.numel())`` and torchvision's published counts; multiply-adds vs the hand formula
and vs PyTorch's own FlopCounterMode (which counts from the aten ops, not from module hooks); depth vs
the number in the architecture's name.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from dlviz.architectures import core as A

ZOO = list(A.zoo())


@pytest.mark.parametrize("name", ZOO)
def test_table_params_sum_to_numel(name):
    a = A.analyse(name)
    model = A.build(name)
    total = sum(p.numel() for p in model.parameters())
    assert a.total_params == total
    assert sum(r.params for r in a.rows) + a.unused_params == total
    assert a.unused_params == 0          # every zoo model uses all its parameters in eval mode


@pytest.mark.parametrize("name", ZOO)
def test_macs_match_pytorch_flop_counter(name):
    a = A.analyse(name)
    model = A.build(name)
    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.zeros(1, *a.input_size, device="meta"))
    assert 2 * a.total_macs == counter.get_total_flops()


@pytest.mark.parametrize("name,weights", [
    ("AlexNet", "AlexNet_Weights"), ("VGG-16", "VGG16_Weights"), ("GoogLeNet", "GoogLeNet_Weights"),
    ("ResNet-18", "ResNet18_Weights"), ("ResNet-50", "ResNet50_Weights"),
    ("MobileNet v2", "MobileNet_V2_Weights")])
def test_against_torchvision_published_numbers(name, weights):
    """torchvision's weight metadata (shipped with the package, nothing downloaded) lists params and GMACs."""
    import torchvision.models as tvm

    meta = getattr(tvm, weights).DEFAULT.meta
    a = A.analyse(name)
    assert a.total_params == meta["num_params"]
    assert a.total_macs / 1e9 == pytest.approx(meta["_ops"], abs=6e-4)


def test_conv_macs_hand_formula_resnet_stem():
    a = A.analyse("ResNet-18")
    conv1 = next(r for r in a.rows if r.name == "conv1")
    h_out = (224 + 2 * 3 - 7) // 2 + 1                      # 112
    assert conv1.output_shape == (64, h_out, h_out)
    assert conv1.macs == 3 * 7 * 7 * 64 * h_out * h_out    # C_in * k * k * C_out * H_out * W_out
    assert conv1.params == 3 * 7 * 7 * 64                   # bias=False


@pytest.mark.parametrize("c_in,c_out,k,stride,pad,dil,groups,size", [
    (3, 8, (3, 3), 1, 1, 1, 1, 17), (4, 6, (5, 3), 2, (2, 0), 1, 2, 20), (8, 8, (3, 3), 1, 2, 2, 8, 15)])
def test_conv_macs_hand_formula_general(c_in, c_out, k, stride, pad, dil, groups, size):
    conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=pad, dilation=dil, groups=groups)
    a = A.analyse_model(nn.Sequential(conv), (c_in, size, size))
    p = pad if isinstance(pad, tuple) else (pad, pad)
    h = (size + 2 * p[0] - dil * (k[0] - 1) - 1) // stride + 1
    w = (size + 2 * p[1] - dil * (k[1] - 1) - 1) // stride + 1
    (row,) = a.rows
    assert row.output_shape == (c_out, h, w)
    assert row.macs == (c_in // groups) * k[0] * k[1] * c_out * h * w
    assert row.params == (c_in // groups) * k[0] * k[1] * c_out + c_out


def test_linear_macs_and_params():
    a = A.analyse_model(nn.Sequential(nn.Flatten(), nn.Linear(12, 5)), (3, 2, 2))
    lin = a.rows[1]
    assert (lin.macs, lin.params, lin.output_shape) == (12 * 5, 12 * 5 + 5, (5,))


def test_lenet5_by_hand():
    a = A.analyse("LeNet-5")
    convs_and_fcs = [r for r in a.rows if r.kind in ("Conv2d", "Linear")]
    # C1 6@5x5 on 1 channel, C3 16@5x5 on 6, C5 120@5x5 on 16, F6 120->84, output 84->10 (weights + biases)
    assert [r.params for r in convs_and_fcs] == [6 * 25 + 6, 16 * 6 * 25 + 16, 120 * 16 * 25 + 120,
                                                   120 * 84 + 84, 84 * 10 + 10]
    assert a.total_params == 61_706
    assert [r.output_shape for r in convs_and_fcs] == [(6, 28, 28), (16, 10, 10), (120, 1, 1), (84,), (10,)]
    assert convs_and_fcs[0].macs == 25 * 6 * 28 * 28
    assert a.depth == 5


@pytest.mark.parametrize("name,depth", [("AlexNet", 8), ("VGG-11", 11), ("VGG-16", 16), ("VGG-19", 19),
                                        ("ResNet-18", 18), ("ResNet-34", 34), ("ResNet-50", 50),
                                        ("ResNet-152", 152), ("GoogLeNet", 22), ("Inception v3", 48)])
def test_depth_is_the_number_in_the_name(name, depth):
    assert A.analyse(name).depth == depth


def test_weight_depth_counts_the_longest_chain_not_all_layers():
    class Res(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.skip = nn.Conv2d(2, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1), nn.Conv2d(2, 2, 1)

        def forward(self, x):
            return self.b(torch.relu(self.a(x))) + self.skip(x)

    net = nn.Sequential(Res(), Res(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    a = A.analyse_model(net, (2, 4, 4))
    assert a.depth == 2 + 2 + 1                      # the 1x1 skips are on shorter paths
    assert sum(r.kind == "Conv2d" for r in a.rows) == 6


def test_repeated_module_counts_params_once():
    relu = nn.ReLU()
    lin = nn.Linear(4, 4)
    net = nn.Sequential(lin, relu, lin, relu)        # the same Linear twice
    a = A.analyse_model(net, (4,))
    assert a.total_params == 20 and sum(r.params for r in a.rows) == 20
    assert [r.macs for r in a.rows if r.kind == "Linear"] == [16, 16]
    assert any("(call 2)" in r.name for r in a.rows)


def test_unused_module_is_reported():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Linear(3, 2), nn.Linear(5, 5)

        def forward(self, x):
            return self.used(x)

    a = A.analyse_model(Net(), (3,))
    assert a.unused_params == 30 and a.notes


def test_input_size_changes_macs_not_params():
    big, small = A.analyse("ResNet-18"), A.analyse("ResNet-18", 112)
    assert big.total_params == small.total_params
    conv1_big = next(r for r in big.rows if r.name == "conv1")
    conv1_small = next(r for r in small.rows if r.name == "conv1")
    assert conv1_big.macs == 4 * conv1_small.macs


def test_too_small_input_is_a_clear_error():
    with pytest.raises(A.ArchitectureError, match="cannot take"):
        A.analyse("LeNet-5", 8)
    with pytest.raises(A.ArchitectureError, match="Unknown architecture"):
        A.analyse("NoSuchNet")


def test_stage_totals_and_compare_add_up():
    a = A.analyse("ResNet-50")
    stages = A.stage_totals(a)
    assert [s["stage"] for s in stages] == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3",
                                            "layer4", "avgpool", "fc"]
    assert sum(s["params"] for s in stages) == a.total_params
    assert sum(s["macs"] for s in stages) == a.total_macs
    (row,) = A.compare(["ResNet-50"])
    assert (row["params"], row["macs"], row["depth"]) == (a.total_params, a.total_macs, 50)


def test_no_weights_are_allocated():
    model = A.build("VGG-16")
    assert all(p.device.type == "meta" for p in model.parameters())


def test_human():
    assert A.human(11_689_512) == "11.7 M"
    assert A.human(999) == "999"


# ---------------------------------------------------------------------------------------------- blocks
def _no_overlap(g):
    spots = [(n.rank, round(n.x, 6)) for n in g.nodes]
    return len(spots) == len(set(spots))


def test_inception_module_graph():
    from dlviz.architectures import blocks as B

    g = B.block_graph("GoogLeNet", "inception3a")
    (cat,) = [n for n in g.nodes if n.label == "concat"]
    ins = [g.node(p) for p, c in g.edges if c == cat.id]
    assert len(ins) == 4
    assert sorted(n.shape[0] for n in ins) == [32, 32, 64, 128] and cat.shape == (256, 28, 28)
    assert g.input_shape == (192, 28, 28) and g.output_shape == (256, 28, 28)
    block = dict(A.build("GoogLeNet").named_modules())["inception3a"]
    assert g.params == sum(p.numel() for p in block.parameters()) == sum(n.params for n in g.nodes)
    assert g.macs == sum(n.macs for n in g.nodes)
    # every branch conv is BasicConv2d: conv + BN + ReLU (the ReLU is a functional call in its code)
    assert all(n.label.endswith("+ BN + ReLU") for n in g.nodes if n.kind == "conv")
    assert _no_overlap(g)


def test_residual_block_graph_has_the_skip():
    from dlviz.architectures import blocks as B

    g = B.block_graph("ResNet-18", "layer1.0")
    (add,) = [n for n in g.nodes if n.label.startswith("⊕ add")]
    parents = [p for p, c in g.edges if c == add.id]
    assert "x" in parents                             # the identity shortcut: input straight to the add
    assert add.label.endswith("then ReLU")
    g2 = B.block_graph("ResNet-18", "layer2.0")
    assert g2.input_shape == (64, 56, 56) and g2.output_shape == (128, 28, 28)
    shortcut = [n for n in g2.nodes if n.label.startswith("1x1 conv, 64→128, stride 2")]
    assert len(shortcut) == 1 and shortcut[0].shape == (128, 28, 28)
    assert g2.macs == 3 * 3 * 64 * 128 * 28 * 28 + 3 * 3 * 128 * 128 * 28 * 28 + 64 * 128 * 28 * 28
    assert _no_overlap(g) and _no_overlap(g2)


@pytest.mark.parametrize("name", ["GoogLeNet", "Inception v3", "ResNet-50", "MobileNet v2",
                                  "small_inception (32x32)", "small_resnet (32x32)"])
def test_every_block_traces_and_adds_up(name):
    from dlviz.architectures import blocks as B

    if name not in A.zoo():
        pytest.skip(f"{name} is not in this build")
    model = A.build(name)
    blocks = B.find_blocks(model)
    assert blocks
    mods = dict(model.named_modules())
    for b in blocks:
        g = B.block_graph(name, b)
        assert g.params == sum(n.params for n in g.nodes) == sum(p.numel() for p in mods[b].parameters())
        assert _no_overlap(g)
        assert all(e[0] in {n.id for n in g.nodes} and e[1] in {n.id for n in g.nodes} for e in g.edges)


def test_receptive_field_column_by_hand():
    # LeNet-5: r_l = r_{l-1} + (k_l - 1) * (product of earlier strides)
    a = A.analyse("LeNet-5")
    by_kind = [(r.kind, r.rf, r.jump) for r in a.rows if r.kind in ("Conv2d", "AvgPool2d")]
    assert by_kind == [("Conv2d", 5, 1), ("AvgPool2d", 6, 2), ("Conv2d", 14, 2), ("AvgPool2d", 16, 4),
                       ("Conv2d", 32, 4)]
    assert a.rf == 32                                     # C5 sees the whole 32x32 input
    r18 = {r.name: r for r in A.analyse("ResNet-18").rows}
    assert (r18["conv1"].rf, r18["conv1"].jump) == (7, 2)
    assert (r18["maxpool"].rf, r18["maxpool"].jump) == (7 + 2 * 2, 4)
    assert r18["layer1.0.conv2"].rf == 11 + 2 * 4 + 2 * 4
    assert r18["layer1.0.relu (call 2)"].rf == r18["layer1.0.conv2"].rf   # the repeated ReLU call maps too
    assert all(r.rf is not None for r in r18.values())


def test_inception_reduction_savings_by_hand():
    from dlviz.architectures import blocks as B

    actual, naive = B.reduction_savings(B.block_graph("GoogLeNet", "inception3a"))
    hw = 28 * 28
    # branch 2: 1x1 192->96 then 3x3 96->128; branch 3: 1x1 192->16 then 3x3 16->32 (torchvision's "5x5")
    assert actual == (192 * 96 + 96 * 9 * 128 + 192 * 16 + 16 * 9 * 32) * hw
    assert naive == (192 * 9 * 128 + 192 * 9 * 32) * hw
    assert B.reduction_savings(B.block_graph("ResNet-18", "layer1.0")) is None
    assert "Identity shortcut" in B.shortcut_summary(B.block_graph("ResNet-18", "layer1.0"))
    assert "Projection shortcut" in B.shortcut_summary(B.block_graph("ResNet-18", "layer2.0"))


# ---------------------------------------------------------------------------------------------- the page
def test_page_views_and_bad_input():
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    page = Path(__file__).resolve().parent.parent / "pages" / "architectures.py"
    at = AppTest.from_file(str(page), default_timeout=120)
    at.run()
    assert not at.exception and not at.error
    assert any("check_circle" in c.value for c in at.caption)     # table sums agree with the independent counts
    assert [m.value for m in at.metric][:3] == ["11.7 M", "1.81 G", "18 layers"]
    at.session_state["arch-view"] = "Building blocks"
    at.run()
    assert not at.exception and not at.error
    assert any(m.value == "51% of MACs" for m in at.metric)       # inception3a, by hand in the test above
    at.session_state["arch-view"] = "Side by side"
    at.session_state["arch-compare"] = ["LeNet-5", "ResNet-18", "GoogLeNet"]
    at.run()
    assert not at.exception and not at.error
    at.session_state["arch-view"] = "One architecture"
    at.session_state["arch-model"] = "AlexNet"
    at.run()
    at.session_state["arch-size"] = 32                    # too small for AlexNet's pools
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and "Pick a larger input size" in at.error[0].value


def test_figures_plot_the_measured_numbers():
    from dlviz.architectures import blocks as B
    from dlviz.architectures import plots as P

    for name in ("LeNet-5", "GoogLeNet", "MobileNet v2"):
        a = A.analyse(name)
        fig = P.layer_profile_figure(a)
        macs, params = fig.data[0].y, fig.data[1].y
        assert sum(macs) == a.total_macs                   # every multiply-add is in a plotted bar
        assert sum(params) <= a.total_params               # norms' parameters are in the table, not the bars
    rows = A.compare(["ResNet-18", "VGG-16"])
    fig = P.comparison_figure(rows, flops=True)
    assert list(fig.data[2].x) == [2 * r["macs"] for r in rows]
    g = B.block_graph("ResNet-18", "layer1.0")
    fig = P.block_figure(g)
    assert sum(s.type == "rect" for s in fig.layout.shapes) == len(g.nodes)
    assert P.thumbnail().shape == (150, 300, 3)


def _arch_app(**params):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages" / "architectures.py"),
                           default_timeout=180)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    return at


def _last_printed(at) -> str:
    import contextlib
    import io

    code = next(c.value for c in at.code if c.value.startswith("# dlviz notebook snippet"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<snippet>", "exec"), {})
    return out.getvalue().strip().splitlines()[-1]


def test_page_field_wider_than_input_states_the_clipped_region():
    """Issue 15: "every unit sees the whole image plus padding" was false for ResNet-50 (unit (0, 0) sees rows
    0-213 of 224): the page now states the clipped region the receptive-field library computes."""
    from dlviz.receptive_fields import core as rfm

    at = _arch_app(**{"arch-model": "ResNet-50"})
    a = A.analyse("ResNet-50")
    assert a.rf == 427 and a.rf_layer == "layer4"
    assert a.rf_row.clipped_region(0, 0, (224, 224)) == (0, 0, 213, 213)
    row = next(r for r in rfm.receptive_field(rfm.torchvision_model("ResNet-50"), 224) if r.name == "layer4")
    assert row.clipped_region(0, 0, (224, 224)) == (0, 0, 213, 213)
    caps = " ".join(c.value for c in at.caption)
    assert "unit (0, 0) sees rows 0–213, columns 0–213" in caps and "36 of the 49 units" in caps
    helps = " ".join(m.help or "" for m in at.metric)
    assert "whole image plus padding" not in caps + helps
    at = _arch_app(**{"arch-model": "LeNet-5"})                      # a field that fits: no such caption
    assert not any("is wider than" in c.value for c in at.caption)


@pytest.mark.parametrize("view", ["One architecture", "Building blocks", "Side by side"])
def test_page_notebook_snippet_prints_the_number_shown(view):
    params = {"arch-view": view}
    if view == "Side by side":
        params["arch-compare"] = ["LeNet-5", "ResNet-18", "GoogLeNet"]
    at = _arch_app(**params)
    code = next(c.value for c in at.code if c.value.startswith("# dlviz notebook snippet"))
    shown = code.split(" = ", 1)[1].split("\n", 1)[0]
    texts = [m.value for m in at.metric] + [c.value for c in at.caption]
    assert any(shown in t for t in texts), (shown, texts)
    assert _last_printed(at) == shown


def test_page_controls_are_bound_to_the_url_and_sizes_follow_the_model():
    at = _arch_app(**{"arch-model": "Inception v3"})
    assert at.select_slider(key="arch-size").value == 299
    at.selectbox(key="arch-model").set_value("ResNet-18").run()
    assert at.select_slider(key="arch-size").value == 224
    at = _arch_app(**{"arch-model": "ResNet-18", "arch-size": "64"})
    assert at.select_slider(key="arch-size").value == 64 and at.metric[1].value != "1.81 G"
    for view in ("One architecture", "Building blocks", "Side by side"):
        at = _arch_app(**{"arch-view": view})
        keyed = [w for kind in ("selectbox", "radio", "select_slider", "toggle", "multiselect", "button_group")
                 for w in getattr(at, kind) if w.key and not w.key.startswith("dlviz_")]
        assert keyed and all(w.proto.query_param_key == w.key for w in keyed), \
            [w.key for w in keyed if w.proto.query_param_key != w.key]
    at = _arch_app(**{"arch-view": "Building blocks"})
    at.selectbox(key="blk-model-1").set_value("ResNet-50").run()      # the block list follows the model
    assert not at.exception and at.selectbox(key="blk-name-1").value in _block_names("ResNet-50")


def _block_names(name):
    from dlviz.architectures import blocks as B

    return B.find_blocks(A.build(name))

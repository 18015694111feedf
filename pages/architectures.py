"""Architectures: LeNet-5 to ResNet, measured layer by layer -- shapes, parameters, multiply-adds,
receptive field -- side by side, and the Inception module and residual block drawn with their shapes."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import share
import ui
from dlviz.architectures import blocks as blocks
from dlviz.architectures import core as arch
from dlviz.architectures import plots as plots
from dlviz.receptive_fields.views import field_vs_input

PAGE_INFO = {
    "title": "Architectures",
    "icon": ":material/account_tree:",
    "section": "Classifier lab",
    "order": 10,
    "question": "Where do a CNN's parameters and its compute go, from LeNet-5 to ResNet?",
    "thumbnail": "dlviz.architectures.plots:thumbnail",
}

ui.page_header(PAGE_INFO, (
    "Every classic CNN is built from the same few layers; what differs is how many, how wide, and how "
    "they are wired. Here each architecture runs once on a **weightless** (meta-device) copy while hooks "
    "measure every layer: its output shape, its **parameters**, its **multiply-adds** (MACs; FLOPs ≈ 2 × MACs) "
    "and its **receptive field**. No weights are downloaded: the numbers depend only on the architecture."))

ZOO = arch.zoo()
NAMES = list(ZOO)
SIZES = [32, 64, 96, 128, 160, 192, 224, 256, 299, 320]


@st.cache_data(show_spinner="Measuring every layer…", max_entries=64)
def analysis(name: str, size: int | None) -> arch.Analysis:
    return arch.analyse(name, size)


@st.cache_data(show_spinner=False, max_entries=64)
def independent_check(name: str, size: int | None) -> tuple[int, int]:
    """sum(p.numel()) and PyTorch's own FlopCounterMode (aten-level, no hooks) / 2."""
    return arch.independent_counts(name, size)


@st.cache_data(show_spinner="Tracing the block…", max_entries=64)
def block(name: str, block_name: str) -> blocks.BlockGraph:
    return blocks.block_graph(name, block_name)


@st.cache_data(show_spinner=False, max_entries=32)
def block_names(name: str) -> list[str]:
    return blocks.find_blocks(arch.build(name))


VIEWS = ["One architecture", "Building blocks", "Side by side"]


def choose_view() -> str:
    view = st.segmented_control("View", VIEWS, default="One architecture", key="arch-view",
                                label_visibility="collapsed", bind="query-params")
    return view or "One architecture"


# ---------------------------------------------------------------- 1. one architecture, layer by layer
def one_architecture() -> None:
    st.sidebar.header("Architecture")
    name = st.sidebar.selectbox("Model", NAMES, index=NAMES.index("ResNet-18"), key="arch-model",
                                help="torchvision definitions (no weights) and the app's small 32×32 models.",
                                bind="query-params")
    entry = ZOO[name]
    design = entry.input_size[-1]
    sizes = sorted(set(SIZES + [design]))
    if st.session_state.get("arch-size-of") not in (None, name):      # another model: start at its design size
        st.session_state["arch-size"] = design
    st.session_state["arch-size-of"] = name
    size = st.sidebar.select_slider("Input size (pixels)", sizes, value=design, key="arch-size", bind="query-params",
                                    help=f"{name} was designed for {design}×{design}. Parameters do not depend on "
                                         "the input size; multiply-adds grow with its area.")
    log_y = st.sidebar.toggle("Log scale for MACs and parameters", True, key="arch-log", bind="query-params")
    try:
        a = analysis(name, None if size == design else size)
    except arch.ArchitectureError as e:
        st.error(f"{e}. Pick a larger input size.", icon=":material/error:")
        st.stop()

    st.header(f"1 · {name}, layer by layer")
    st.caption(f"**{entry.paper}**. {entry.note}")
    m = st.columns(5)
    m[0].metric("Parameters", arch.human(a.total_params), help=f"{a.total_params:,} = sum of p.numel()")
    m[1].metric("Multiply-adds / image", arch.human(a.total_macs), help=f"{a.total_macs:,} MACs ≈ "
                f"{arch.human(a.flops)} FLOPs, for one {'×'.join(map(str, a.input_size))} image")
    m[2].metric("Depth", f"{a.depth} layers", help="Longest chain of conv / linear layers from input to output, "
                "found in the autograd graph (skips and parallel branches do not add to it).")
    m[3].metric("Receptive field", f"{a.rf} px" if a.rf else "–",
                help=f"Of one unit of the last spatial layer ({a.rf_layer}), in input pixels. It can exceed the "
                     "image: part of the window then lies in the padding, and a unit sees only the part on the image.")
    m[4].metric("Weights (float32)", f"{a.total_params * 4 / 2**20:,.1f} MiB")
    wider = field_vs_input(a.rf_row, tuple(a.input_size[-2:])) if a.rf_row is not None else None
    if wider:
        st.caption(f":material/filter_center_focus: Last spatial layer `{a.rf_layer}`: {wider}")
    share.notebook(page="architectures", label=f"the parameters of {name}", shown=arch.human(a.total_params),
                   body=f"from dlviz.architectures import core as arch\n"
                        f"result = arch.analyse({name!r}, {None if size == design else size})\n"
                        "print(arch.human(result.total_params))", key="architectures-nb")
    numel, flop_macs = independent_check(name, None if size == design else size)
    ok = numel == a.total_params and flop_macs == a.total_macs
    st.caption((":material/check_circle: " if ok else ":material/cancel: **Mismatch!** ") + f"Independent check: Σ per-layer parameters = {sum(r.params for r in a.rows):,}"
               f" vs sum(p.numel()) = {numel:,}; Σ per-layer MACs = {a.total_macs:,} vs PyTorch's FlopCounterMode "
               f"(counts aten ops, not modules) / 2 = {flop_macs:,}.")
    for note in a.notes:
        st.caption(f":material/info: {note}")

    profile = plots.layer_profile_figure(a, log_y=log_y)
    ui.show(profile, key=f"arch-profile-{name}")
    share.figure_csv_download(profile, f"{name}-{size}px-layer-profile", key="arch-profile")
    ui.show(plots.share_figure(arch.stage_totals(a)), key=f"arch-share-{name}")
    share.csv_download("Stages (CSV)", lambda: arch.stage_totals(a), f"{name}-{size}px-stages", key="arch-stages")

    only_weights = st.toggle("Show only layers with weights", False, key="arch-onlyw", bind="query-params")
    rows = [r for r in a.rows if not only_weights or r.params or r.kind in ("Conv2d", "Linear")]
    df = pd.DataFrame({
        "#": [r.index + 1 for r in rows], "layer": [r.name for r in rows], "type": [r.kind for r in rows],
        "details": [r.detail for r in rows], "output shape": ["×".join(map(str, r.output_shape)) for r in rows],
        "parameters": [r.params for r in rows], "MACs": [r.macs for r in rows],
        "% of MACs": [100 * r.macs / max(1, a.total_macs) for r in rows],
        "receptive field": [r.rf for r in rows], "jump": [r.jump for r in rows]})
    st.dataframe(df, hide_index=True, width="stretch", height=min(600, 36 + 35 * len(df)), column_config={
        "parameters": st.column_config.NumberColumn(format="%d"),
        "MACs": st.column_config.NumberColumn(format="%d"),
        "% of MACs": st.column_config.ProgressColumn(format="%.1f%%", min_value=0, max_value=100),
        "receptive field": st.column_config.NumberColumn(help="Side of the input window one unit sees (px)."),
        "jump": st.column_config.NumberColumn(help="Input pixels between neighbouring units (effective stride); "
                                                   "0 after a global pool or a dense layer.")})
    st.caption(f"{len(a.rows)} module calls (a module called twice, like ResNet's shared ReLU, appears twice). "
               "MACs: C_in/groups · k_h · k_w per output element of a convolution, in_features per output of a "
               "linear layer; norms, activations and pools count as 0. Receptive fields from "
               "`dlviz.receptive_fields.core`.")

# ---------------------------------------------------------------- 2. building blocks
def building_blocks() -> None:
    st.header("2 · The Inception module and the residual block")
    st.markdown("Each drawing is traced from the model's own code with `torch.fx`: the branches, the "
                "concatenation and the skip connection are read from the forward pass, and each box shows the "
                "shape flowing out of it. Hover a box for its parameters and multiply-adds.")
    with_blocks = [n for n in NAMES if block_names(n)]
    defaults = [("GoogLeNet", "inception3a"), ("ResNet-18", "layer1.0")]
    for i, (d_model, d_block) in enumerate(defaults):
        fig_col, info_col = st.columns([3, 1])
        with info_col:
            mname = st.selectbox("Model", with_blocks, index=with_blocks.index(d_model), key=f"blk-model-{i}",
                                 bind="query-params")
            names = block_names(mname)
            first = names.index(d_block) if d_block in names else 0
            if st.session_state.get(f"blk-name-{i}-of") not in (None, mname):   # another model: its first block
                st.session_state[f"blk-name-{i}"] = names[first]
            st.session_state[f"blk-name-{i}-of"] = mname
            bname = st.selectbox("Block", names, index=first, key=f"blk-name-{i}", bind="query-params")
            g = block(mname, bname)
            st.metric("Block parameters", f"{g.params:,}")
            if i == 0:
                share.notebook(page="architectures", label=f"the parameters of {mname} {bname}", shown=f"{g.params:,}",
                               body="from dlviz.architectures import blocks\n"
                                    f"result = blocks.block_graph({mname!r}, {bname!r})\n"
                                    'print(f"{result.params:,}")', key="architectures-nb")
            st.metric("Block multiply-adds", arch.human(g.macs), help=f"{g.macs:,} MACs for one image")
            saving = blocks.reduction_savings(g)
            if saving is not None:
                actual, naive = saving
                st.metric("Saved by the 1×1 reductions", f"{1 - actual / naive:.0%} of MACs",
                          help=f"The branches with a 1×1 'reduce' layer cost {actual:,} MACs; the same k×k "
                               f"convolutions applied straight to the block's input would cost {naive:,}.")
            short = blocks.shortcut_summary(g)
            if short:
                st.markdown(short)
        with fig_col:
            ui.show(plots.block_figure(g), key=f"blk-fig-{i}")
        st.divider()

# ---------------------------------------------------------------- 3. side by side
def side_by_side() -> None:
    st.header("3 · All architectures side by side")
    default = [n for n in NAMES if ZOO[n].family != "app"]
    chosen = st.multiselect("Architectures", NAMES, default=default, key="arch-compare", bind="query-params")
    if not chosen:
        st.info("Pick at least one architecture.")
        st.stop()
    progress = st.progress(0.0, text="Measuring…")
    rows = []
    for i, n in enumerate(chosen):
        row = arch.compare([n])[0]
        rows.append({**{k: row[k] for k in ("name", "family", "year", "depth", "params", "macs", "rf")},
                     "input": row["input"].replace("x", "×")})
        progress.progress((i + 1) / len(chosen), text=f"Measured {n}")
    progress.empty()
    unit = st.radio("Count compute as", ["multiply-adds (MACs)", "FLOPs (= 2 × MACs)"], horizontal=True,
                    key="arch-unit", bind="query-params", help="A multiply-add is one multiplication and one addition: 2 FLOPs. "
                    "Beware: torchvision's documentation lists ResNet-18 at '1.81 GFLOPS', which is its MAC count.")
    comparison = plots.comparison_figure(rows, flops=unit.startswith("FLOPs"))
    ui.show(comparison, key="arch-compare-fig")
    share.figure_csv_download(comparison, "architectures-compared", key="arch-compare")
    ui.show(plots.efficiency_figure(rows), key="arch-eff-fig")
    best = min(rows, key=lambda r: r["macs"] / max(1, r["depth"]))
    st.dataframe(pd.DataFrame(rows).rename(columns={"macs": "MACs", "rf": "receptive field (px)"}),
                 hide_index=True, width="stretch",
                 column_config={"params": st.column_config.NumberColumn(format="%d"),
                                "MACs": st.column_config.NumberColumn(format="%d")})
    st.caption(f"Each at its design resolution. Cheapest per layer of depth: **{best['name']}** "
               f"({arch.human(best['macs'] / max(1, best['depth']))} MACs per weight layer).")
    share.notebook(page="architectures", label="the cheapest architecture per layer of depth", shown=best["name"],
                   body="from dlviz.architectures import core as arch\n"
                        f"rows = arch.compare({chosen!r})\n"
                        'result = min(rows, key=lambda r: r["macs"] / max(1, r["depth"]))\n'
                        'print(result["name"])', key="architectures-nb")


def try_this() -> None:
    ui.try_this([
        ("**VGG-16**: what share of the parameters sits in the three fully connected layers, and what share of the "
         "multiply-adds do they do? (the bar under the profile)"),
        ("**ResNet-18** at 224 and then at 32 pixels: parameters stay put, MACs fall by almost (224/32)² = 49. Why not "
         "exactly 49?"),
        "Side by side: GoogLeNet is deeper than VGG-16 yet has 20× fewer parameters. Find the layers VGG spends them on.",
        "Building blocks: how much compute do the 1×1 reductions save in **inception3a**, and in a later module?",
        ("Does the depth metric match the number in the name for ResNet-50? Count the 1×1 shortcut convolutions: "
         "are they on the longest path?"),
        ("Which has the larger receptive field at its last layer, ResNet-50 or ResNet-18, and why is the deeper one "
         "not larger? (bottlenecks have one 3×3 convolution each)"),
    ])


SECTIONS = {"One architecture": one_architecture, "Building blocks": building_blocks, "Side by side": side_by_side}
SECTIONS[choose_view()]()
try_this()

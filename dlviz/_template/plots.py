"""TEMPLATE plots: plotly figures, pure functions of core's results (shared helpers in dlviz.plotting)."""

from __future__ import annotations

import plotly.graph_objects as go

from dlviz._template.core import Measurement
from dlviz.plotting import PALETTE


def measurement_figure(m: Measurement, height: int = 280) -> go.Figure:
    fig = go.Figure(go.Histogram(x=m.values, marker_color=PALETTE[0], nbinsx=30))
    fig.add_vline(x=m.mean, line_dash="dash", annotation_text=f"mean {m.mean:.3g}")
    fig.update_layout(height=height, margin=dict(l=4, r=4, t=30, b=4), xaxis_title="value", yaxis_title="inputs")
    return fig

"""The curse-of-dimensionality page in AppTest: every control is in the URL and a link reopens the view, and
the notebook snippet prints the distance ratio shown."""

from __future__ import annotations

import contextlib
import io

import pytest
from streamlit.testing.v1 import AppTest

from dlviz.curse_of_dimensionality import core as dim
from pagetest import PAGES, errors


def _app(**params) -> AppTest:
    at = AppTest.from_file(str(PAGES / "curse_of_dimensionality.py"), default_timeout=180)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not errors(at), errors(at)
    return at


@pytest.mark.parametrize("params", [{}, {"cod-d": "10000", "cod-n": "50"}, {"cod-d": "2"}])
def test_link_and_snippet(params):
    at = _app(**params)
    d, n = int(params.get("cod-d", 100)), int(params.get("cod-n", 200))
    metric = next(m for m in at.metric if m.label == f"max / min distance, d = {d:,}")
    assert metric.value == f"{dim.distance_stats(d, n, 0).ratio:,.3g}"        # the link's d and n were used
    code = next(c.value for c in at.code if c.value.startswith("# dlviz notebook snippet"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<snippet>", "exec"), {})
    assert out.getvalue().strip().splitlines()[-1] == metric.value


def test_every_value_widget_is_bound():
    at = _app()
    keyed = [w for kind in ("slider", "select_slider") for w in getattr(at, kind)
             if w.key and not w.key.startswith("dlviz_")]
    assert len(keyed) == 10 and all(w.proto.query_param_key == w.key for w in keyed), \
        [w.key for w in keyed if w.proto.query_param_key != w.key]
    labels = [b.proto.label for b in at.get("download_button")]
    assert {"Data (CSV)", "k-NN accuracy (CSV)", "Parameter counts (CSV)"} <= set(labels)

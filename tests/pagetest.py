"""Shared helpers for the AppTest page tests: errors shown on a page, a page rendered once, runs stopped."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

PAGES = Path(__file__).resolve().parent.parent / "pages"


def errors(at: AppTest) -> list[str]:
    """Exceptions and st.error messages on the page (a page test asserts there are none)."""
    return [e.value for e in at.exception] + [f"st.error: {e.value}" for e in at.error]


def rendered(page: str, timeout: float = 120) -> AppTest:
    """``pages/<page>.py`` run once with its default controls; fails on any error shown."""
    app = AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=timeout)
    app.run()
    assert not errors(app), errors(app)
    return app


def run_of(at: AppTest, key: str):
    """The training run the page started under ``ui.training_panel(key, ...)``, or None."""
    name = f"dlviz-run-{key}"
    return at.session_state[name] if name in at.session_state else None


def stop_runs(at: AppTest, key: str, timeout: float = 30) -> None:
    run = run_of(at, key)
    if run is not None:
        run.stop()
        for t in run.trainers.values():
            t.join(timeout)


def force_options(w, values: list[str] | str) -> None:
    """Select option *strings* on a selection widget (selectbox, radio: one string; select_slider, multiselect,
    button_group: a list), as the browser sends them. AppTest's own setters need the page's Python option
    values, which a generic test cannot see."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    base = type(w)
    many = not isinstance(values, str)

    class Forced(base):  # type: ignore[misc, valid-type]
        @property
        def _widget_state(self):
            ws = WidgetState()
            ws.id = self.id
            if many:
                ws.string_array_value.data.extend(values)
            else:
                ws.string_value = values
            return ws

    w.__class__ = Forced


def run_snippet(code: str, cwd=None) -> str:
    """Run a page's notebook snippet as a student would paste it (in folder ``cwd``, where a downloaded model
    may lie); returns everything it printed."""
    import contextlib
    import io
    import os

    out, here = io.StringIO(), os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, "<snippet>", "exec"), {"__name__": "__snippet__"})
    finally:
        os.chdir(here)
    return out.getvalue()

"""Known features of Python source text, one value per character: what an RNN unit might track.

Karpathy, Johnson & Fei-Fei (2015), "Visualizing and Understanding Recurrent Networks", found LSTM
cells that turn on inside quotes, count bracket depth or indentation, and track the position in a
line. To find such units automatically we need the truth for each of these at every character;
:func:`text_features` computes it with a small scanner for Python's lexical rules (strings with
their quotes, prefixes, triple quotes and backslash escapes; comments; brackets outside both).

Every feature is the state *after reading* character t -- what a left-to-right reader (the RNN)
could know at that moment:

* ``in_string`` is 1 from the opening quote on and drops to 0 on the character that closes the
  string (so ``'ab'`` gives 1 1 1 0);
* ``bracket_depth`` counts the ``( [ {`` still open after character t (brackets in strings and
  comments do not count);
* ``column`` is how many characters of the current line have been read (a newline gives 0).

For the synthetic tasks, :func:`task_features` gives the true quantities (bracket depth, counts).
"""

from __future__ import annotations

import numpy as np

FEATURES: dict[str, str] = {
    "in_string": "inside a string literal (1) or not (0)",
    "in_docstring": "inside a triple-quoted string (docstrings)",
    "in_short_string": "inside a one-line string (single or double quotes)",
    "in_comment": "inside a # comment",
    "bracket_depth": "open ( [ { brackets, outside strings and comments",
    "paren_depth": "open ( parentheses only",
    "indent": "leading spaces of the current line read so far",
    "column": "position in the line (characters read since the newline)",
    "word_length": "length of the identifier/number being read (0 outside words)",
    "is_space": "the character is a space",
    "is_newline": "the character is a newline",
    "after_dot": "the character follows a '.' inside a name (attribute access)",
}
LONG_RANGE = ("in_string", "in_docstring", "in_short_string", "in_comment", "bracket_depth", "paren_depth", "indent", "column")

_OPEN, _CLOSE = "([{", ")]}"


def _scan(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """in_string, in_comment, bracket depth, paren depth after each character."""
    n = len(text)
    in_str = np.zeros(n, dtype=np.float32)
    in_com = np.zeros(n, dtype=np.float32)
    depth = np.zeros(n, dtype=np.float32)
    paren = np.zeros(n, dtype=np.float32)
    quote = ""          # the closing delimiter we wait for: ', ", ''' or """ ("" = not in a string)
    comment = False
    d = p = 0
    i = 0
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\" and i + 1 < n:              # an escape: this and the next char stay inside
                in_str[i] = in_str[i + 1] = 1
                depth[i] = depth[i + 1] = d
                paren[i] = paren[i + 1] = p
                i += 2
                continue
            if text.startswith(quote, i):             # the closing delimiter: its last char ends it
                k = len(quote)
                in_str[i:i + k - 1] = 1
                depth[i:i + k] = d
                paren[i:i + k] = p
                quote = ""
                i += k
                continue
            if ch == "\n" and len(quote) == 1:        # an unterminated one-line string ends here
                quote = ""
            else:
                in_str[i] = 1
        elif comment:
            if ch == "\n":
                comment = False
            else:
                in_com[i] = 1
        elif ch == "#":
            comment = True
            in_com[i] = 1
        elif ch in "'\"":
            quote = ch * 3 if text.startswith(ch * 3, i) else ch
            k = len(quote)
            in_str[i:i + k] = 1
            depth[i:i + k] = d
            paren[i:i + k] = p
            i += k
            continue
        elif ch in _OPEN:
            d += 1
            p += ch == "("
        elif ch in _CLOSE:
            d = max(0, d - 1)
            p = max(0, p - 1) if ch == ")" else p
        depth[i] = d
        paren[i] = p
        i += 1
    return in_str, in_com, depth, paren


def text_features(text: str) -> dict[str, np.ndarray]:
    """Every feature of :data:`FEATURES` for ``text``: ``{name: (T,) float32}``."""
    n = len(text)
    in_str, in_com, depth, paren = _scan(text)
    triple = np.zeros(n, dtype=np.float32)
    edges = np.flatnonzero(np.diff(np.r_[0.0, in_str, 0.0]))       # starts and ends of string runs
    for a, b in zip(edges[::2], edges[1::2]):
        if text.startswith(('"' * 3, "'" * 3), a):
            triple[a:b] = 1
    indent = np.zeros(n, dtype=np.float32)
    column = np.zeros(n, dtype=np.float32)
    word = np.zeros(n, dtype=np.float32)
    after_dot = np.zeros(n, dtype=np.float32)
    col = ind = w = 0
    leading = True
    dotted = False
    for i, ch in enumerate(text):
        if ch == "\n":
            col = ind = w = 0
            leading = True
            dotted = False
        else:
            col += 1
            if leading and ch == " ":
                ind += 1
            else:
                leading = False
            if ch.isalnum() or ch == "_":
                if w == 0:
                    dotted = i > 0 and text[i - 1] == "." and not (i > 1 and text[i - 2].isdigit())
                w += 1
            else:
                w = 0
                dotted = False
        indent[i], column[i], word[i] = ind, col, w
        after_dot[i] = float(dotted and w > 0 and not in_str[i] and not in_com[i])
    arr = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32) if n else np.zeros(0, np.uint32)
    return {
        "in_string": in_str, "in_docstring": triple, "in_short_string": in_str - triple, "in_comment": in_com, "bracket_depth": depth, "paren_depth": paren,
        "indent": indent, "column": column, "word_length": word,
        "is_space": (arr == ord(" ")).astype(np.float32),
        "is_newline": (arr == ord("\n")).astype(np.float32),
        "after_dot": after_dot,
    }


TASK_FEATURES: dict[str, dict[str, str]] = {
    "bracket_depth": {"depth": "nesting depth after the character (the task's target)",
                      "is_open": "the character is '('", "is_close": "the character is ')'"},
    "counting": {"count": "how often the current symbol has appeared so far (the task's target)",
                 "distinct": "how many different symbols have appeared so far"},
}


def task_features(task: str, text: str, symbols: str = "") -> dict[str, np.ndarray]:
    """The true quantities of a synthetic task at every position of ``text``.

    bracket_depth: ``depth``, ``is_open``, ``is_close``; counting: ``count`` (of the current symbol,
    uncapped), ``distinct`` and ``count_<s>`` (running count of symbol s) for each of ``symbols``.
    """
    n = len(text)
    if task == "bracket_depth":
        step = np.array([(ch == "(") - (ch == ")") for ch in text], dtype=np.float32)
        return {"depth": np.cumsum(step).astype(np.float32) if n else step,
                "is_open": (step > 0).astype(np.float32), "is_close": (step < 0).astype(np.float32)}
    if task == "counting":
        seen: dict[str, int] = {}
        count = np.zeros(n, dtype=np.float32)
        distinct = np.zeros(n, dtype=np.float32)
        per = {s: np.zeros(n, dtype=np.float32) for s in symbols}
        for i, ch in enumerate(text):
            seen[ch] = seen.get(ch, 0) + 1
            count[i] = seen[ch]
            distinct[i] = len(seen)
            for s in symbols:
                per[s][i] = seen.get(s, 0)
        return {"count": count, "distinct": distinct, **{f"count_{s}": v for s, v in per.items()}}
    raise ValueError(f"no known features for task {task!r}")


def feature_descriptions(task: str = "text", symbols: str = "") -> dict[str, str]:
    """``{feature: description}`` for the code corpus (``task="text"``) or a synthetic task."""
    if task == "text":
        return dict(FEATURES)
    out = dict(TASK_FEATURES.get(task, {}))
    if task == "counting":
        out.update({f"count_{s}": f"how many '{s}' so far" for s in symbols})
    return out

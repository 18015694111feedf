"""No number typed into a caption that claims a measurement (issue 15): a number shown to the student is either
formatted from the computation that measured it, or it is listed here with the reason it may be typed.

For every page (discovered from pages/*.py, so a new page is held to this at once) the page's source is parsed
with ``ast`` and the *literal* text of what the student reads is collected: the string constants and the literal
parts of f-strings (not the ``{...}`` fields, which are computed, nor their format specs) inside the first argument
of ``.caption / .markdown / .info / .warning / .success / .error`` (on ``st``, ``st.sidebar`` or a column), the
second argument of ``ui.page_header`` and every prompt of ``ui.try_this``. Text a page gets from the library
(``dlviz.<concept>.captions``) is not literal here: those builders are tested against their measurements in
tests/test_<concept>_captions.py.

The filter, so that only numbers that could claim something are left:

* a number glued to a letter or ``_`` (``p4``, ``z0``, ``CIFAR10``, ``3x3``), after a letter and a hyphen
  (``ResNet-50``, ``VGG-16``, ``IWAE-64``) or before a hyphen and a letter (``2-D``, ``10-NN``): a name;
* inside backticks: code (``python -m dlviz.train vae_digits2``);
* after ``eq.``, ``Algorithm``, ``Figure``, ``Table``, ``Sec.`` or ``section``: a reference;
* a year 1950-2030 right after a citation (``et al.``, ``& Welling``, ``Adebayo et al. (2018)``): a year;
* 0 and 1 on their own: the identities of the mathematics (N(0, 1), [0, 1], 1 − ᾱ, w = 0), never a measurement.

Everything else must be in :data:`ALLOWED` for its page with a reason: a widget's value or range the prompt asks the
student to set, a paper's number (cited), the architecture's size, a data set's fixed size, or a measurement that a
named test checks. An entry that no longer occurs fails too, so the list stays exactly what the pages say.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(p.stem for p in (ROOT / "pages").glob("*.py") if not p.name.startswith("_"))

SHOWN = {"caption", "markdown", "info", "warning", "success", "error", "try_this", "page_header"}
_NUM = re.compile(r"\d+(?:[.,]\d+)*")
_REF = re.compile(r"(?:\beq\.?|\bEq\.?|\bAlgorithm|\bFig\.?|\bFigure|\bTable|\bSec\.?|\b[Ss]ection)\s*$")
_CITE = re.compile(r"(?:et al\.?(?:'s)?,?|&\s*[A-Z][\w-]*,?|[A-Z][a-z]+,?)\s*\(?$")
_CODE = re.compile(r"`[^`]*`")

W = "a widget value or range the student sets"
T = "a measurement a test checks"
A = "the architecture's size"
D = "a digit or class named as such"
MATH = "part of a formula"

ALLOWED: dict[str, dict[str, str]] = {
    "activations_losses": {
        "64": A + " (64 → 64 → 64 → 64 → 10 MLP)", "10": A + " (10 classes) / a layer count the prompt asks about",
        "0.001": W + " (the shipped runs' learning rates)", "0.1": W, "4": W, "0.25": MATH + " (max slope of sigmoid)",
        "5": W, "2": W + " (the logit z > 2)", "1.0": W,},
    "architectures": {
        "2": MATH + " (FLOPs ≈ 2 × MACs)", "224": W + " (input size)", "32": W + " (input size)",
        "49": MATH + " ((224/32)²)", "20": T + " (test_try_this: GoogLeNet vs VGG-16)", "3": A + " (3×3 convolution)"},
    "attention": {"99": "the accuracy threshold the caption reports the step of"},
    "attribution": {"4": W + " (IG steps)", "200": W + " (IG steps)", "10": "the shipped model's class count"},
    "augmentation": {
        "100": W, "180": W + " (rotation)", "0.5": W, "2": W + " (MixUp α) / " + D, "55": "an example caption's mix",
        "45": "an example caption's mix", "4000": W, "3": D, "4": D, "7": D, "9": D},
    "batchnorm": {
        "2": "a panel's number", "4": W,
        "128": "the probe batch's size (a fixed parameter)", "10": "the share of steps the final loss averages",
        "64": "the batches per size (a fixed parameter)"},
    "classifier": {"250": W, "0.01": W, "10": W + " (learning rate)", "3": W + " (learning rate)", "0.3": W},
    "convolutions": {
        "8": A, "16": A + " / the upsampled size", "3": A + " / " + W, "7": T + " (test_try_this: kernel span)",
        "9": A + " (a 3×3 kernel's weights)", "4": W, "10": "chance for 10 classes",
        "2": T + " (test_convolutions_page: diverged at step 2)", "50": W},
    "curse_of_dimensionality": {
        "32": "an example image size", "3,072": MATH + " (32 × 32 × 3)", "10,000": W, "20": W, "0.1": W,
        "1,000": W + " / the example layer's width", "2,000": W, "224": "an example image size",
        "150": T + " (test_try_this: dense weights)", "28,000": T + " (test_try_this: conv weights)",
        "200": "the points drawn per dimension (a fixed parameter)", "100,000": "the Monte Carlo sample size"},
    "ddpm": {"500": W + " (t)", "5": W + " (DDIM steps)", "50": W + " (DDIM steps)", "6": W + " (w)",
             "1000": W + " (t / DDIM steps)"},
    "equivariance": { "2": W, "4": W, "8": W, "90": W + " (rotation)",
        "6": D, "9": D, "0.77": T + " (test_try_this: blur pool)", "0.99": T + " (test_try_this: blur pool)",
        "45": W + " (rotation)"},
    "gans": {
        "5": W, "2": W + " (packing m)", "20": "the points per target blob (a fixed parameter)",
        "200": A + " / the samples per measurement",
        "256": "an image's dimension count", "3,072": "an image's dimension count",
        "25": "the grid's mode count (a property of the data)", "8": "the ring's mode count (a property of the data)",
        "0.01": W + " (D's learning rate)", "600": W + " (steps)", "100": W + " (D-only / G-only steps)",
        "10": W + " (learning rate)"},
    "receptive_fields": {
        "427": T + " (test_try_this: ResNet-50 layer4)", "25": T + " (test_receptive_fields_page: holes)",
        "81": T + " (test_receptive_fields_page: holes)", "90": "the ERF share the caption's condition tests"},
    "resnet_gradients": {
        "25": "the threshold of 'clearly lower'", "0.05": "the threshold of 'clearly lower'",
        "512": "the images the landscape is evaluated on (a fixed parameter)", "20": W, "100": "the band of 'within'",
        "50": W, "2": W + " / " + MATH + " (σ²/2)", "10": W, "40": W,
        "3": MATH + " (σ² = 1/3)", "6": MATH + " (×1/6)"},
    "rnn_hidden_states": {"5": "the minimum prompt length", "200": "the characters the measure spans",
                          "0.8": "the sampling temperature (a fixed parameter)",
                          "8": W + " (units) / the bracket depth the shipped model was trained to",
                          "0.5": W + " (ρ)", "1.5": W + " (ρ)", "99": "the accuracy the prompt asks the time to"},
    "seq2seq": {"20": W + " (input length)", "8": W + " (beam width)"},
    "unet": {"20": W,
             "8": "the channels shown (a fixed parameter)"},
    "vae": {"4": D, "9": D, "8": W + " (β)", "10": W + " (learning rate)"},     # in dlviz.vae.captions.TRY_THIS
    "vit": {"16": "the paper's patch size, cited", "224": "the paper's image size, cited", "20": W,
            "95": "the accuracy the prompt asks the time to", "8": A + " (8×8 patches)", "64": "the attention maps shown (a fixed parameter)"},
}


def shown_texts(source: str) -> list[tuple[int, str]]:
    """(line, literal text) of what a page shows in captions, markdown, messages, its header and its prompts."""
    def walk(n: ast.AST, out: list[str]) -> None:
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            out.append(n.value)
        elif isinstance(n, ast.JoinedStr):
            parts = []
            for v in n.values:
                if isinstance(v, ast.Constant):
                    parts.append(v.value)
                else:                          # a computed field: not literal (its own string constants still are)
                    parts.append(" {} ")
                    walk(v.value, out)
            out.append("".join(parts))
        else:
            for c in ast.iter_child_nodes(n):
                walk(c, out)

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SHOWN:
            name = node.func.attr
            args = node.args if name == "try_this" else node.args[1:2] if name == "page_header" else node.args[:1]
            for a in args:
                out: list[str] = []
                walk(a, out)
                found += [(node.lineno, t) for t in out]
    return found


def literal_numbers(text: str) -> list[str]:
    """The numbers in ``text`` that could claim something (see the module's docstring for what is left out)."""
    text = _CODE.sub(" ", text)
    out = []
    for m in _NUM.finditer(text):
        tok = m.group().rstrip(".,")
        s, e = m.start(), m.start() + len(tok)
        prev, nxt = (text[s - 1] if s else " "), (text[e] if e < len(text) else " ")
        if prev.isalpha() or prev == "_" or nxt.isalpha() or nxt == "_":
            continue
        if (prev == "-" and s >= 2 and text[s - 2].isalpha()) or (nxt == "-" and text[e + 1:e + 2].isalpha()):
            continue
        if _REF.search(text[:s]):
            continue
        if len(tok) == 4 and tok.isdigit() and 1950 <= int(tok) <= 2030 and _CITE.search(text[max(0, s - 40):s]):
            continue
        if tok in ("0", "1"):
            continue
        out.append(tok)
    return out


def library_prompts(source: str) -> list[tuple[int, str]]:
    """(line, literal text) of the prompts a page passes as ``ui.try_this(X.NAME)``, ``X`` a ``dlviz`` module it
    imports: the list is read from that module's source, so a prompt kept in the library is held to the same rule."""
    tree = ast.parse(source)
    modules: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dlviz"):
            for a in node.names:
                modules[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("dlviz") and a.asname:
                    modules[a.asname] = a.name
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "try_this"):
            continue
        for arg in node.args:
            if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) and arg.value.id in modules:
                path = ROOT / (modules[arg.value.id].replace(".", "/") + ".py")
                assigned = [n for n in ast.parse(path.read_text()).body if isinstance(n, ast.Assign)
                            and any(isinstance(t, ast.Name) and t.id == arg.attr for t in n.targets)]
                assert assigned, f"{path.name} has no module-level {arg.attr} for the page's ui.try_this"
                fake = ast.Module(body=[ast.Expr(ast.Call(ast.Attribute(ast.Name("ui"), "try_this"),
                                                          [assigned[-1].value], []))], type_ignores=[])
                found += [(node.lineno, text) for _, text in shown_texts(ast.unparse(fake))]
    return found


def page_numbers(page: str) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    source = (ROOT / "pages" / f"{page}.py").read_text()
    for line, text in shown_texts(source) + library_prompts(source):
        for tok in literal_numbers(text):
            found.setdefault(tok, []).append(line)
    return found


# ---------------------------------------------------------------- the filter itself
def test_the_filter_keeps_claims_and_drops_names_references_and_years():
    assert literal_numbers("accuracy 99.7 % after 800 steps") == ["99.7", "800"]
    assert literal_numbers("ResNet-50, VGG-16, p4, z0, CIFAR10, 3x3, 2-D, 10-NN, x_0") == []
    assert literal_numbers("eq. 4 and Algorithm 2; Sec. 3.1; section 3") == []
    assert literal_numbers("Burda et al. 2016; (Ho et al., 2020); Kingma & Welling 2014; Adebayo et al. (2018); "
                           "Santurkar et al.'s (2018)") == []
    assert literal_numbers("run `python -m dlviz.train vae_digits2` for 2,000 steps") == ["2,000"]
    assert literal_numbers("N(0, 1), [0, 1], 1 − ᾱ; ~1.5 s") == ["1.5"]
    assert literal_numbers("in 2012 images") == ["2012"]                   # a year only right after a citation


def test_the_parser_reads_literal_parts_only():
    src = ('import streamlit as st\nimport ui\nx = 3\n'
           'st.caption(f"took {x:.1f} s of 12 s")\n'
           'st.sidebar.info("42 items" + f"{x}")\n'
           'ui.try_this(["set 7", ("or 8 " "and 9")])\n'
           'ui.page_header({}, "T = 1,000 steps")\n'
           'st.slider("not shown as text 5", 0, 10)\n')
    texts = [t for _, t in shown_texts(src)]
    nums = [n for t in texts for n in literal_numbers(t)]
    assert sorted(nums) == sorted(["12", "42", "7", "8", "9", "1,000"])       # not the slider's label
    assert "1" not in nums                                                 # the '.1f' format spec is not text


# ---------------------------------------------------------------- every page
def test_every_page_has_an_allow_list():
    assert set(ALLOWED) <= set(PAGES), set(ALLOWED) - set(PAGES)


@pytest.mark.parametrize("page", PAGES)
def test_no_typed_number_claims_a_measurement(page):
    found = page_numbers(page)
    allowed = ALLOWED.get(page, {})
    unexplained = {n: lines for n, lines in found.items() if n not in allowed}
    assert not unexplained, (
        f"{page}: numbers typed into shown text (number: lines). Format each from its measurement, or add it to "
        f"ALLOWED[{page!r}] with the reason it may be typed: {unexplained}")


@pytest.mark.parametrize("page", sorted(ALLOWED))
def test_the_allow_list_has_no_stale_entries(page):
    stale = set(ALLOWED[page]) - set(page_numbers(page))
    assert not stale, f"{page}: these allowed numbers no longer appear; remove them from ALLOWED: {sorted(stale)}"

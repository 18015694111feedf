"""What the attention page shows, as arrays and words (never figures, never streamlit): its captions, the default
input of a task, the notebook snippet, and matrices drawn as labelled pixel images with the figures' own colour
scales for the GIFs -- attention query by query, and the attention of every head over a training run. The seq2seq
and RNN pages draw their GIFs with the same helpers.
"""

from __future__ import annotations

import functools
import re

import numpy as np

_ASCII = {" ": "_", "\n": "\\n", "\t": "\\t", "␣": "_", "⏎": "\\n", "·": "_", "⇥": "\\t", "⟨end⟩": "</s>"}


@functools.lru_cache(maxsize=16)
def colour_lut(colorscale: str, n: int = 256) -> np.ndarray:
    """``(n, 3)`` uint8 colours of a plotly colour scale (the same colours the page's figures use)."""
    from plotly.colors import sample_colorscale

    rgb = [tuple(float(v) for v in re.findall(r"[\d.]+", c)[:3]) for c in sample_colorscale(colorscale, n)]
    return np.clip(np.rint(np.array(rgb)), 0, 255).astype(np.uint8)


def heat_rgb(values, vmin: float, vmax: float, colorscale: str = "Blues") -> np.ndarray:
    """Values -> ``(..., 3)`` uint8 colours of ``colorscale`` over ``[vmin, vmax]`` (NaN is light grey)."""
    v = np.asarray(values, dtype=np.float64)
    lut = colour_lut(colorscale)
    t = np.clip((v - vmin) / ((vmax - vmin) or 1.0), 0, 1)
    idx = np.rint(np.nan_to_num(t) * (len(lut) - 1)).astype(int)
    out = lut[idx]
    out[np.isnan(v)] = 235
    return out


def ascii_label(tok: str, width: int = 6) -> str:
    """A label the built-in bitmap font can draw: whitespace and symbols spelled in ASCII, cut to ``width``."""
    s = _ASCII.get(tok.replace("\u200b", ""), tok.replace("\u200b", ""))
    s = "".join(c if 32 <= ord(c) < 127 else "?" for c in s)
    return s[:width]


@functools.lru_cache(maxsize=4)
def _font(size: int = 11):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:                                         # Pillow < 10.1: one fixed bitmap font
        return ImageFont.load_default()


def matrix_layout(cell: tuple[int, int], row_labels=None, col_labels=None, title: str = ""):
    """Where :func:`matrix_image` puts entry (0, 0): ``(top, left, row labels drawn, column labels drawn)``;
    entry (i, j) covers rows ``top + i*h ..`` and columns ``left + j*w ..`` of the picture."""
    ch, cw = cell
    rows = [ascii_label(str(s)) for s in row_labels] if row_labels is not None and ch >= 9 else []
    cols = [ascii_label(str(s), 2 if cw < 16 else 4) for s in col_labels] if col_labels is not None and cw >= 8 else []
    return (16 if title else 4) + (14 if cols else 0), 6 + 7 * max((len(s) for s in rows), default=0), rows, cols


def matrix_image(M, vmin: float, vmax: float, colorscale: str = "Blues", row_labels=None, col_labels=None,
                 cell: tuple[int, int] = (14, 14), title: str = "", dim=None, box=None, outline=None) -> np.ndarray:
    """A matrix as a ``(H, W, 3)`` uint8 picture: one ``cell = (h, w)`` block per entry, row labels on the left,
    column labels on top (drawn only when the cells are wide enough to read), a title line.

    ``dim``: a boolean mask of entries left blank (not reached yet); ``box = (r0, c0, r1, c1)``: a black frame
    around rows r0..r1-1, columns c0..c1-1 (the current step); ``outline``: a boolean mask of entries framed in
    red (the true alignment, the algorithm's keys).
    """
    from PIL import Image, ImageDraw

    M = np.asarray(M, dtype=np.float64)
    R, C = M.shape
    ch, cw = cell
    top, left, rows, cols = matrix_layout(cell, row_labels, col_labels, title)
    rgb = heat_rgb(M, vmin, vmax, colorscale)
    if dim is not None:
        d = np.asarray(dim, dtype=bool)
        rgb[d] = 246
    img = np.full((top + R * ch + 4, left + C * cw + 4, 3), 255, np.uint8)
    img[top:top + R * ch, left:left + C * cw] = np.repeat(np.repeat(rgb, ch, 0), cw, 1)
    im = Image.fromarray(img)
    draw = ImageDraw.Draw(im)
    font = _font()
    if title:
        draw.text((2, 1), ascii_label(title, 200), fill=(30, 30, 30), font=font)
    for i, s in enumerate(rows):
        draw.text((2, top + i * ch + (ch - 11) // 2), s, fill=(60, 60, 60), font=font)
    for j, s in enumerate(cols):
        draw.text((left + j * cw + 1, top - 13), s, fill=(60, 60, 60), font=font)
    if outline is not None:
        for i, j in zip(*np.nonzero(np.asarray(outline, dtype=bool))):
            draw.rectangle([left + j * cw, top + i * ch, left + (j + 1) * cw - 1, top + (i + 1) * ch - 1],
                           outline=(215, 25, 28))
    if box is not None:
        r0, c0, r1, c1 = box
        draw.rectangle([left + c0 * cw - 1, top + r0 * ch - 1, left + c1 * cw, top + r1 * ch], outline=(0, 0, 0),
                       width=2)
    return np.asarray(im)


def side_by_side(images: list[np.ndarray], ncol: int | None = None, pad: int = 10) -> np.ndarray:
    """Pictures of any sizes tiled in rows of ``ncol`` on white, top-left aligned: ``(H, W, 3)`` uint8."""
    ncol = ncol or len(images)
    h = max(im.shape[0] for im in images)
    w = max(im.shape[1] for im in images)
    nrow = -(-len(images) // ncol)
    out = np.full((nrow * (h + pad) - pad, ncol * (w + pad) - pad, 3), 255, np.uint8)
    for k, im in enumerate(images):
        r, c = divmod(k, ncol)
        out[r * (h + pad):r * (h + pad) + im.shape[0], c * (w + pad):c * (w + pad) + im.shape[1]] = im
    return out


def cell_size(n: int, room: int = 360, lo: int = 4, hi: int = 18) -> int:
    """Side of one cell so that ``n`` cells fill about ``room`` pixels."""
    return int(np.clip(room // max(n, 1), lo, hi))


def query_frames(weights: np.ndarray, tokens: list[str], pattern: np.ndarray | None = None,
                 max_frames: int = 80) -> list[np.ndarray]:
    """The attention of every head revealed query by query: frame q shows rows 0..q of each head's map, row q
    framed (the token being read or written at that step), the rows still to come blank. ``weights (L, H, T, T)``;
    ``pattern (T, T)`` frames the keys the algorithm names."""
    L, Hh, T, _ = weights.shape
    c = cell_size(T, room=300 if L * Hh > 1 else 420)
    rows = np.arange(T)[:, None]
    steps = np.unique(np.linspace(0, T - 1, min(T, max_frames)).round().astype(int))
    frames = []
    for q in steps:
        panels = [matrix_image(weights[i, h], 0.0, 1.0, "Blues", tokens, tokens, (c, c),
                               title=f"L{i + 1}H{h + 1}  query {q}: {ascii_label(tokens[q])}",
                               dim=np.broadcast_to(rows > q, (T, T)), box=(q, 0, q + 1, T), outline=pattern)
                  for i in range(L) for h in range(Hh)]
        frames.append(side_by_side(panels, ncol=min(Hh * L, 4)))
    return frames


def training_frames(snapshots: list[tuple[int, dict]], alg: str | None = None) -> list[np.ndarray]:
    """The attention of every head on one test sequence at each snapshot of a run: one frame per snapshot,
    titled with its step. ``snapshots``: ``[(step, {"weights": (L, H, T, T), "tokens": [...], ...})]``."""
    frames = []
    for step, snap in snapshots:
        w = np.asarray(snap["weights"])
        L, Hh, T, _ = w.shape
        c = cell_size(T, room=260)
        pat = (snap.get("patterns") or {}).get(alg)
        panels = [matrix_image(w[i, h], 0.0, 1.0, "Blues", snap["tokens"], snap["tokens"], (c, c),
                               title=f"step {step}  L{i + 1}H{h + 1}", outline=pat)
                  for i in range(L) for h in range(Hh)]
        frames.append(side_by_side(panels, ncol=min(Hh * L, 4)))
    return frames


# ---------------------------------------------------------------- the page's words and defaults
INTRO = ("In self-attention every position *q* (a **query**) scores every position *k* (a **key**) with "
         "$q\\cdot k/\\sqrt{d}$, turns the scores into weights with a softmax, and reads the weighted mix of the "
         "values. On tasks whose algorithm is known -- reverse, sort, continue a repeated sequence -- you can check "
         "each head against it, switch heads off, and train a transformer live and watch the pattern appear.")
SHIPPED = {"attn_reverse": "Reverse · decoder (x|y)", "attn_reverse_enc": "Reverse · encoder",
           "attn_sort": "Sort · decoder (x|y)", "attn_induction": "Induction heads (repeats)",
           "attn_code": "Python code · character LM"}
DEFAULT_TEXT = {"reverse": "abcdefgh", "copy": "abcdefgh", "sort": "hcafbdge", "induction": "k3x9qmz7k3x9qmz7",
                "counting": "abacabad", "bracket_depth": "((a)(()a))",
                "code": 'def area(width, height):\n    """Area of a box."""\n    return width * height\n\n'
                        'print(area(3, 4), area(3, 4))\n'}
TRY_THIS = [
    "On **Reverse · decoder**, switch the **causal mask** off: the decoder can now read its own future. "
    "Does the held-out accuracy survive a mask it never trained without?",
    "On **Reverse · decoder**, switch off one layer-1 head, then both: one is enough, none is fatal.",
    "On **Induction heads**, type a random string and repeat it: find the head that reads one token after the "
    "earlier copy, and the layer-1 head that reads the previous token. Switch either off.",
    "On **Reverse**, type fewer characters than it was trained on: its positions are absolute, so where does the "
    "mirror head look now?",
    "Train **induction** with learned instead of sinusoidal positions: does a previous-token head still appear? "
    "Watch the accuracy curve for a sudden jump -- the induction-head phase change.",
    "Train **reverse** with **Positions: none**: can attention alone find the mirrored token?",
]
MATCH_CAPTION = ("Share of the scored queries of {n} test sequences at which each head matches the pattern. A head "
                 "*matches* at a query when its strongest key is one the algorithm names: for reverse the mirrored "
                 "position, for induction the token right after an earlier occurrence of the current token, for the "
                 "previous-token pattern position q − 1. Chance is about 1 over the keys visible.")
POSITIONS_TEXT = ("Attention itself ignores order: shuffle the keys and each query gets the same mix. The model knows "
                  "positions only through a vector added to each token: **sinusoidal** "
                  "($\\sin(p\\,\\omega_i), \\cos(p\\,\\omega_i)$, fixed) or **learned** (trained like any weight).")
OFFSET_CAPTION = ("Similarity of positions p and p + d against the offset d; the bars span the spread over p. For "
                  "sinusoids the spread is zero -- the similarity depends on the offset alone, so 'look d back' is the "
                  "same linear map at every position. Learned positions owe nothing to that rule.")
ENTROPY_CAPTION = ("Entropy of each head's rows, averaged over queries: 0 bits = every query reads one key; the dashed "
                   "line is what uniform attention over the visible keys would give.")
TOKENS_CAPTION = ("Top: the tokens the model reads. Bottom: its prediction at each scored position (green right, red "
                  "wrong; · not scored).")


def grid_caption(causal: bool, scores: bool, outlined: bool) -> str:
    return ("Rows are queries, columns the keys they read; each row of weights sums to 1. "
            + ("Grey cells are hidden by the causal mask (score −∞ before the softmax). " if causal and scores else "")
            + ("Red squares: the keys the algorithm says each query needs." if outlined else ""))


def head_names(cfg) -> list[str]:
    return [f"L{i + 1}H{h + 1}" for i in range(cfg.n_layer) for h in range(cfg.n_head)]


def n_seqs(spec, tokens: int) -> int:
    """Test sequences for a measurement: ``tokens`` positions in all, between 32 and 500 sequences."""
    return int(np.clip(tokens // spec.block_size, 32, 500))


def default_input(spec) -> tuple[str, str]:
    """``(the symbols one may type, the input the page opens on)`` for a task model. The hand-made example is
    kept where its symbols are in the model's vocabulary and it has at least two of them; otherwise a held-out
    example (a model trained on two symbols cannot read ``k3x9...``)."""
    from dlviz.attention.training import XY_TASKS, example_text, vocabularies

    vin = vocabularies(spec)[0]
    allowed = "".join(vin[:-1] if spec.name in XY_TASKS and spec.causal else vin)
    keep = "".join(c for c in DEFAULT_TEXT.get(spec.name, "") if c in allowed)
    if spec.name == "induction":
        default = keep[:spec.length] if len(keep) == len(DEFAULT_TEXT["induction"]) else ""
    else:
        default = keep[:spec.length] or allowed[:spec.length]
    return allowed, default if len(default) >= 2 else example_text(spec, seed=0)


def model_caption(model, spec, label: str | None) -> str:
    cfg = model.config
    return ((f"**{label}** · " if label else "")
            + f"{cfg.n_layer} layer(s) × {cfg.n_head} head(s), width {cfg.n_embd}, "
            f"{'causal (decoder)' if cfg.causal else 'bidirectional (encoder)'}, {cfg.positions} positions, "
            f"{'with' if cfg.mlp_ratio else 'no'} MLP · task **{spec.name.replace('_', ' ')}**, "
            f"length {spec.length}" + (f" (varies from {spec.min_length})" if spec.min_length else "")
            + f" · {sum(p.numel() for p in model.parameters()):,} parameters")


def snippet_test_accuracy(shipped_name: str | None, off: list[str], causal: bool, tokens: int = 8000) -> str:
    """Plain Python that recomputes the held-out token accuracy with the heads and the mask as set."""
    load = (f'model, card = load_shipped("{shipped_name}", expected_arch="tiny_transformer")' if shipped_name else
            '# your own model: download it from the sidebar, then\n'
            'model, card = load_checkpoint("my_model.pt", expected_arch="tiny_transformer")')
    return f"""
import numpy as np
import torch
from dlviz.attention import training as T
from dlviz.checkpoints import load_checkpoint, load_shipped

{load}
spec = T.TaskSpec.from_dict(card["task"])
n = int(np.clip({tokens} // spec.block_size, 32, 500))                    # test sequences
off = {off!r}                                                            # heads switched off
cfg = model.config
mask = torch.tensor([[0.0 if f"L{{i + 1}}H{{h + 1}}" in off else 1.0 for h in range(cfg.n_head)]
                     for i in range(cfg.n_layer)])
acc = T.task_metrics(model, T.make_data(spec, n, split="test"), head_mask=mask, causal={causal!r})
result = acc["token_acc"]
print(f"{{result:.1%}}")
"""

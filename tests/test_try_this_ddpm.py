"""The DDPM page's "try this" prompts (issue 15), each set as the student would -- through the URL, since every control
is bound -- and every promised outcome checked on the shipped food generator (the page's default).

8 prompts, 5 promises (all tested), 7 questions (four prompts ask a question after their promise):

1. "Section 1: set t = 500 and compare the three schedules. Which one has already destroyed the image? Where does
   each one's SNR cross 1?" -- question (the crossing points are formatted from the schedule and tested in
   tests/test_ddpm_captions.py).
2. "Section 2: DDIM with 5 steps vs 50: how much worse are the samples, and how much faster?" -- question.
3. "Set the guidance scale to 0 (unconditional): what does the model make ...? Then try w = 6: sharper classes, but
   do all hotdogs start to look alike?" -- question, promise ("sharper classes": more of the samples are the
   class asked for), question: :func:`test_w_6_gives_more_of_the_class_than_w_0`.
4. "Scrub t from the top down: at which t does x̂_0 first look like a hotdog? (Coarse shape first, details last.)" --
   question, then a promise: :func:`test_the_prediction_settles_its_coarse_shape_before_its_details`.
4b. "Set DDIM starts at to T (trailing). More than twice as many colour values sit at the ends of the range
   (saturated primaries), and fewer hotdogs are recognised. Why?" -- promise, then a question (the help answers it):
   :func:`test_starting_ddim_at_T_saturates_the_colours_and_loses_hotdogs`.
5. "DDIM with η = 1 and 1000 steps *is* DDPM: compare it with the DDPM panel from the same seed." -- promise, tested
   in tests/test_try_this.py (``test_ddim_eta_1_with_every_step_is_the_ddpm_panel_of_the_shipped_model``: both
   panels from the same seed are the same samples).
6. "Train on digits with the linear schedule, then with cosine: which gives readable digits sooner?" -- question.
7. "Section 3: sweep the guidance scale. Recognition rises with w -- does the Fréchet distance follow, or do the
   samples get less varied than real food?" -- promise, then a question:
   :func:`test_recognition_rises_with_the_guidance_scale`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pagetest import errors
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "ddpm.py")
LABEL = "DDIM: recognised as the requested class"


def _page(**params) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.query_params.update(params)
    at.run()
    assert not errors(at), errors(at)
    assert next(w for w in at.slider if w.key == "ddpm-w").value == float(params["ddpm-w"])
    return at


def test_w_6_gives_more_of_the_class_than_w_0():
    """The page's default: 8 samples of the first class (hotdog), DDIM 50 steps, the same seed."""
    got = {}
    for w in ("0", "6"):
        at = _page(**{"ddpm-w": w})
        value = next(m.value for m in at.metric if m.label == LABEL)
        hits, n = (int(x) for x in value.split(" / "))
        assert n == 8
        got[w] = hits
    assert got["6"] > got["0"], got


def _page_defaults_trajectory():
    """What section 2 draws at its defaults (food generator, 8 hotdogs, w = 4, DDIM 50 steps, η = 0, seed 0)."""
    from dlviz.checkpoints import load_shipped
    from dlviz.ddpm.sampling import generate

    model, _ = load_shipped("ddpm_food", expected_arch="unet")
    with torch.no_grad():
        return generate(model, sampler="ddim", num_steps=50, eta=0.0, labels=torch.zeros(8, dtype=torch.long),
                        guidance=4.0, seed=0)


def test_the_prediction_settles_its_coarse_shape_before_its_details():
    """x̂_0 at each recorded t split into its coarse part (8x8-pixel block means, less the image's mean colour) and
    its details (what the blocks leave); each compared with the final sample's. The coarse part is within 25 % of
    its final value hundreds of steps before the details are."""
    tr = _page_defaults_trajectory()
    x0 = torch.from_numpy(tr.x0.astype(np.float32) / 255).permute(0, 1, 4, 2, 3)      # (F, B, C, H, W)

    def parts(x):
        blocks = F.interpolate(F.avg_pool2d(x, 8), scale_factor=8, mode="nearest")
        return blocks - x.mean((2, 3), keepdim=True), x - blocks

    coarse_final, detail_final = parts(x0[-1])
    settled = {}
    for name, final, k in (("coarse", coarse_final, 0), ("detail", detail_final, 1)):
        errs = [float((parts(x0[i])[k] - final).norm() / final.norm()) for i in range(len(tr.timesteps))]
        settled[name] = next(t for t, e in zip(tr.timesteps, errs) if e < 0.25)   # from the top down
    assert tr.timesteps[0] == 981 and tr.timesteps[-1] == 0                        # leading: one interval below T
    assert settled["coarse"] > settled["detail"] + 200, settled


def test_recognition_rises_with_the_guidance_scale():
    """Section 3's sweep at its defaults (10 samples per class, DDIM 10 steps, seed 0; the page computes these in
    the background with the same call) -- recognition at w = 0, 1, 2, 4, each above the last."""
    from dlviz.checkpoints import load_shipped
    from dlviz.ddpm.captions import SWEEP_WS
    from dlviz.ddpm.quality import score_samples
    from dlviz.ddpm.views import recognised_share

    model, _ = load_shipped("ddpm_food", expected_arch="unet")
    clf, _ = load_shipped("food_cnn", expected_arch="small_cnn")
    rec = []
    for w in SWEEP_WS:
        q, v = score_samples(model, clf, "food_shapes", 10, 10, w, 0)
        rec.append(recognised_share(v, q.requested))
    assert all(a < b for a, b in zip(rec, rec[1:])), dict(zip(SWEEP_WS, rec))


def test_starting_ddim_at_T_saturates_the_colours_and_loses_hotdogs():
    """Section 2 at its defaults (8 hotdogs, w = 4, DDIM 50 steps, η = 0, seed 0), leading vs trailing spacing: the
    share of colour values pinned at the ends of [0, 1] more than doubles, and fewer are recognised as hotdogs."""
    from dlviz.checkpoints import load_shipped
    from dlviz.ddpm.captions import SPACING_PROMPT
    from dlviz.ddpm.sampling import generate
    from dlviz.ddpm.quality import recognise

    assert "More than twice" in SPACING_PROMPT and "fewer hotdogs" in SPACING_PROMPT
    model, _ = load_shipped("ddpm_food", expected_arch="unet")
    clf, _ = load_shipped("food_cnn", expected_arch="small_cnn")
    labels = torch.zeros(8, dtype=torch.long)
    pinned, hits = {}, {}
    for spacing in ("leading", "trailing"):
        x = generate(model, num_steps=50, labels=labels, guidance=4.0, seed=0, record=False, spacing=spacing).samples
        pinned[spacing] = float(((x < 0.02) | (x > 0.98)).float().mean())
        hits[spacing] = int(recognise(clf, x).hits(labels.numpy()).sum())
    assert pinned["trailing"] > 2 * pinned["leading"], pinned
    assert hits["trailing"] < hits["leading"], hits

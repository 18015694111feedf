"""The DDPM page's words: captions built from the numbers they report (each one an argument or a constant of the
library, formatted here, never typed into the text) and the fixed explanations. No Streamlit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dlviz.ddpm.core import NoiseSchedule
from dlviz.ddpm.training import BUCKET_WINDOW, SNAPSHOT_STEPS, SPECS

T = NoiseSchedule().T                 # the forward process's steps (every shipped model and fresh U-Net)
DDIM_STEPS = 50                       # the reverse-process section's default DDIM steps
SWEEP_WS = (0.0, 1.0, 2.0, 4.0)       # section 3's guidance sweep


def _ws(ws) -> str:
    return ", ".join(f"{w:g}" for w in ws)


INTRO = (f"A **DDPM** destroys an image in T = {T:,} small steps of Gaussian noise, then trains a U-Net ε̂(x_t, t, y) "
         "to say which noise was added. Run backwards from pure noise, those predictions *generate* images. "
         "Below: the forward process under three noise schedules, a trained model denoising step by step "
         f"(DDPM's {T:,} steps beside DDIM's {DDIM_STEPS}), class-conditioning with guidance, a live training run, "
         "and a number for how good the samples are.")
CLOSED_FORM = ("q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I) lets training jump to any t in one draw. "
               "Iterating x_t = √(1 − β_t) x_{t−1} + √β_t ε_t with fresh noise gives a *different* picture "
               "(other noise) with the *same* statistics -- compare the noise levels above.")
GUIDANCE_HELP = ("ε̂ = ε̂(x, ∅) + w·(ε̂(x, y) − ε̂(x, ∅)). w = 0: unconditional; 1: plain conditional; "
                 ">1: pushed towards the class (classifier-free guidance).")
DDPM_HELP = (f"Ancestral sampling (Ho Algorithm 2): {T:,} network evaluations, {2 * T:,} with guidance, in the "
             f"background. The estimate is the DDIM run's measured time per step × {T:,}; the machine's load changes "
             "it, so the progress bar re-estimates as it goes.")
SWEEP_LABEL = f"Sweep the guidance scale (w = {_ws(SWEEP_WS)})"
BUCKETS_TITLE = f"ε-prediction loss by timestep (last {BUCKET_WINDOW} steps)"
NO_RUN = ("No run yet: press **Train** in the sidebar, then watch `sample_acc` and the samples below: after how "
          "many steps are the digits readable, and how long did that take here?")


def network_evals(steps: int, guidance: float) -> int:
    """U-Net evaluations per image: one per step, two with classifier-free guidance (w not 0 or 1)."""
    return steps * (1 if guidance in (0.0, 1.0) else 2)


def snr_caption(view, snr_one_at: int) -> str:
    """Under a schedule's ᾱ_t: its SNR (and where it crosses 1), the noise std measured in both pictures of
    ``view`` (a :class:`dlviz.ddpm.views.ForwardView`) beside the theory's √(1−ᾱ)."""
    s = f"{view.snr:.3g}" if np.isfinite(view.snr) else "∞"
    return (f"SNR **{s}** (= 1 at t = {snr_one_at}) · noise std measured in the picture: "
            f"**{view.noise_std_closed:.3f}** (theory √(1−ᾱ) = {np.sqrt(1 - view.alpha_bar):.3f}); after {view.t} "
            f"single steps (eq. 2): **{view.noise_std_stepwise:.3f}**")


def wrong_size(in_channels: int, image_size: int) -> str:
    return (f"This U-Net makes {in_channels}x{image_size}x{image_size} images; the page can judge digits (1x16x16) "
            "and food shapes (3x32x32) only.")


def ddpm_toggle_label(estimate_s: float) -> str:
    return (f"Also run DDPM (all {T:,} steps) from the same x_T"
            + (f" (estimate ≈ {estimate_s:.0f} s)" if np.isfinite(estimate_s) else ""))


def trajectory_caption(num_steps: int, guidance: float, seconds: float, estimate_s: float | None = None) -> str:
    """Under a sampler's panel: its steps, the network evaluations they cost, the time it took (and, for DDPM,
    what the DDIM run predicted)."""
    est = f" (estimated ≈ {estimate_s:.0f} s)" if estimate_s is not None and np.isfinite(estimate_s) else ""
    return (f"{num_steps} steps · {network_evals(num_steps, guidance):,} network evaluations · took {seconds:.1f} s"
            f"{est}")


def not_shipped_note() -> str:
    return ("# This model is not shipped: download it (sidebar) and load it with\n"
            "# dlviz.checkpoints.load_checkpoint(\"my_model.pt\") in place of load_shipped below.\n")


def quality_intro(classifier: str) -> str:
    return (f"The shipped **{classifier}** classifier judges the samples: does it recognise the class that was "
            "asked for, and how far are the samples from real images in its feature space (the **Fréchet "
            "distance**, FD: 0 only for identical feature statistics)? A finite set of *real* images never reaches "
            "0 either, so each FD is shown beside the real-vs-real FD of the same size.")


def recognised_help(n_classes: int, classifier_accuracy: float) -> str:
    return (f"Chance: {1 / n_classes:.0%}. A sample with no object (see section 2) never counts. The classifier "
            f"alone says {classifier_accuracy:.0%}.")


def measure_label(n_samples: int, guidance: float) -> str:
    return f"Measure now: {n_samples} samples at w = {guidance:g} (the guidance slider above)"


def per_class_title(guidance: float, n: int) -> str:
    return f"recognised per requested class (w = {guidance:g}, {n} samples; dotted: chance)"


def live_intro() -> str:
    g = {k: f"{s.eval_guidance:g}" for k, s in SPECS.items()}
    return ("**Train** in the sidebar starts a fresh U-Net. Every few steps the moving average of its weights draws "
            f"one sample per class (DDIM, {SNAPSHOT_STEPS} steps, w = {g['digits']} for digits, {g['food_shapes']} "
            "for food) from the *same* noise, and the classifier scores them (`sample_acc`). The bar chart shows the "
            "loss per timestep bucket: which noise levels are hard?")


READABLE_FILE = Path(__file__).resolve().parent / "time_to_readable.json"   # benchmarks/ddpm_time_to_readable.py


def load_readable(path: Path = READABLE_FILE) -> dict:
    """A JSON file ({} when absent or unreadable): by default the measured time to recognisable samples of the
    page's default live run, per data set."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def readable_note(measured: dict, dataset: str, shipped_card: dict | None = None) -> str:
    """Before Train: how long the default live run took here to draw recognisable samples of ``dataset`` (measured
    by ``benchmarks/ddpm_time_to_readable.py``), and what the shipped model needed (its card); empty when unmeasured."""
    m = measured.get(dataset)
    if not m:
        return ""
    what = "digits" if dataset == "digits" else "food shapes"
    where = f"measured on {m['machine'].split(',')[0]}, {m['measured']}"
    if m["reached"]:
        s = (f"**How long:** with these defaults the {what} samples were first recognised at ≥ {m['threshold']:.0%} "
             f"(one per class) at step {m['step']:,}, after **{m['seconds']:.0f} s** of training ({where}).")
    else:
        s = (f"**How long:** with these defaults the {what} samples did **not** reach {m['threshold']:.0%} recognised "
             f"within {m['limit_s']:.0f} s: the best was {m['recognised']:.0%} at step {m['step']:,} ({m['seconds']:.0f} s; "
             f"{where}).")
    took = (shipped_card or {}).get("train_cpu_time_s")          # CPU time: its wall time was on a busy machine
    if took:
        acc = shipped_card.get("metrics", {}).get("sample_acc")
        s += (f" The shipped {what} model trained {shipped_card.get('steps', 0):,} steps in {took / 60:.0f} CPU-minutes"
              + (f" to reach {acc:.1%}." if acc is not None else "."))
    return s


def readable_for(dataset: str) -> str:
    """:func:`readable_note` for ``dataset`` (``digits`` or ``food_shapes``) from the measured file and the shipped
    model's card."""
    from dlviz.checkpoints import CHECKPOINT_DIR

    card = load_readable(CHECKPOINT_DIR / f"ddpm_{'digits' if dataset == 'digits' else 'food'}.json")  # two small files
    return readable_note(load_readable(), dataset, card or None)


# ------------------------------------------------------------------ where DDIM starts (timestep spacing)
SPACING_NAMES = {"leading": "below T (leading)", "trailing": "T (trailing)"}


def spacing_help(schedule: NoiseSchedule, num_steps: int = DDIM_STEPS) -> str:
    """The spacing radio's help: where each spacing starts with ``num_steps`` steps, and what √ᾱ is there."""
    root = schedule.alphas_cumprod.sqrt()
    lead = schedule.timesteps(num_steps, "leading")[0]
    return (f"Leading (diffusers' default, as in the DDIM paper's code) starts one interval below T: with "
            f"{num_steps} steps at t = {lead}, where √ᾱ = {float(root[lead]):.3f}. Trailing starts at t = {schedule.T}, "
            f"where √ᾱ = {float(root[-1]):.1e}: the first x̂_0 = (x_T − √(1 − ᾱ_T) ε̂) / √ᾱ_T multiplies the "
            f"network's error by {1 / float(root[-1]):,.0f}, and clipping it to [−1, 1] paints saturated colours "
            "into the first jump (Lin et al. 2024).")


SPACING_PROMPT = ("Section 2: set **DDIM starts at** to *T (trailing)*. More than twice as many colour values sit at "
                  "the ends of the range (saturated primaries), and fewer hotdogs are recognised. Why? Read that "
                  "control's help (?).")

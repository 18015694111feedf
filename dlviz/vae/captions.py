"""The VAE page's words: captions built from the numbers they report (each number is an argument, formatted
here, never typed into the text), and the fixed explanations under the figures. No Streamlit."""

from __future__ import annotations

import numpy as np

from dlviz.vae.training import EVAL_N, SWEEP_BETAS, folder_note

IWAE_K = 64            # importance samples per image for the IWAE bound
IWAE_IMAGES = 200      # at most this many test images for it

RECONSTRUCTIONS = ("Top: held-out images; bottom: the decoder's mean image at the posterior mean. Under each: the "
                   "image's ELBO in nats. *lowest ELBO* shows what the model finds hardest.")
KL_PER_UNIT = ("A unit whose posterior equals the prior for every image (KL ≈ 0, grey) carries no information: the "
               "decoder ignores it. Larger β, or a latent bigger than the data needs, collapses more units.")
RATE_DISTORTION = ("Each point is a model: its rate (the mean KL, an upper bound on the information I(x; z) its "
                   "codes carry about the image) against how badly it reconstructs (distortion, −E log p(x|z)). "
                   "β trades one for the other; β = 1 maximises the ELBO = −(rate + distortion). "
                   f"Switch on *β sweep* in the sidebar to add your own runs (their points use {EVAL_N} test images).")
MAP_HELP = ("PCA: the two directions of largest variance (a linear view). UMAP: a nonlinear map that keeps "
            "neighbours together; computed in the background.")


def folder_caption(n_train: int, n_test: int, n_classes: int, note: str) -> str:
    """Under the folder box: how many images the folder gives, and what was left out."""
    return (f"{n_train + n_test:,} images in {n_classes} class(es): {n_train:,} to train on, {n_test:,} held out."
            + (f" **Left out:** {note}." if note else ""))


def folder_summary(folder: str | None, data) -> str | None:
    """:func:`folder_caption` of a folder box's text, loading both splits with ``data(key, split, root, folder)``;
    None for an empty box or a folder that does not load (its error waits for Train)."""
    from dlviz.data import DataError

    if not folder or not folder.strip():
        return None
    try:
        tr, te = data("folder", "train", None, folder), data("folder", "test", None, folder)
    except (DataError, OSError):
        return None
    return folder_caption(len(tr), len(te), len(tr.class_names), folder_note(tr.meta))


SWEEP_LABEL = f"β sweep: four runs side by side (β = {', '.join(f'{b:g}' for b in SWEEP_BETAS)})"


def card_caption(src: str, card: dict) -> str:
    """A shipped checkpoint's card: its test ELBO, how long it trained, and how to reproduce it."""
    return (f"Card of `{src}`: test ELBO {card['metrics']['test_elbo']:.1f} nats; trained {card.get('steps')} "
            f"steps in {card.get('wall_time_s')} s; reproduce with `{card.get('reproduce')}`.")


def run_caption(step: int, running: bool) -> str:
    """Which weights of the student's run the views show."""
    return (f"Your run at step {step:,}: the views show its weights at that step"
            + (" and follow the run as it trains (redrawn every few seconds)." if running else "."))


def gaussian_caption(sigma: float) -> str:
    return (f"The Gaussian decoder learned a pixel noise σ = {sigma:.3f}: its mean image averages every image the "
            "code could stand for, so detail the code cannot afford (crumbs, edges) becomes blur. Watch which "
            "details survive: the code spends its nats where they buy the most squared error.")


def umap_wait(n_codes: int, seconds: float) -> str:
    return (f"Computing UMAP of {n_codes} codes in the background ({seconds:.0f} s so far; the first one in a "
            "session also compiles numba). PCA until then.")


def midpoint_caption(mid: dict[str, float], latent_dim: int) -> str:
    """The norms of the two paths' midpoints beside a typical prior sample's, √D."""
    return (f"Midpoint |z|: linear {mid['linear']:.2f}, spherical {mid['spherical']:.2f}; a typical prior sample "
            f"has |z| ≈ √{latent_dim} = {np.sqrt(latent_dim):.2f}.")


def clicked_caption(i: int, name: str, elbo: float) -> str:
    return f"clicked #{i} ({name}, ELBO {elbo:.1f}): image and reconstruction"


def manifold_caption(da: int, db: int | None) -> str:
    return ((f"Each cell decodes a code with z{da} = its column value and z{db} = its row value. " if db is not None
             else f"A 1-D latent: each image decodes z{da} = the value under it. ")
            + "The values are quantiles of N(0, 1), so the grid is what the prior would draw, cell for cell.")


def sliders_caption(n_sliders: int, latent_dim: int) -> str:
    return (f"Sliders for the {n_sliders} dimensions with the most KL; the other {latent_dim - n_sliders} keep the "
            "starting code's values.")


def code_caption(norm: float, latent_dim: int, log_prior: float, ms: float) -> str:
    """Under the decoded image: the code's norm against √D, its log-density under the prior, the time it took."""
    return (f"|z| = {norm:.2f} (typical: {np.sqrt(latent_dim):.2f}); log p(z) = {log_prior:.1f} nats. "
            f"Decoded and drawn in {ms:.0f} ms of server time.")


def slider_label(d: int, kl: float, active: bool) -> str:
    return f"z{d} · KL {kl:.2f}" + ("" if active else " · collapsed")


def iwae_caption(likelihood: str) -> str:
    return ("log p(x) ≥ IWAE-k ≥ ELBO (Burda et al. 2016). The gap is a lower bound on KL(q(z|x) || p(z|x)): how "
            "far the encoder's Gaussian is from the true posterior."
            + (" Here p(x|z) is the Bernoulli decoder's score of grey-level pixels (see the note under the headline "
               "numbers): the bounds hold for that unnormalised quantity, not for a probability of the image."
               if likelihood == "bernoulli" else ""))


def recon_rows(A: dict, idx, labels, names: list[str]) -> list[dict]:
    """The shown images' ELBO and its two terms, one row each (the reconstructions' CSV)."""
    return [{"image": int(i), "class": names[int(labels[i])], "elbo_nats": float(A["elbo"][i]),
             "recon_nats": float(A["recon"][i]), "kl_nats": float(A["kl"][i])} for i in idx]


def this_model_point(A: dict, latent_dim: int) -> dict:
    """The explored model's point on the rate-distortion plot: mean KL (rate), mean −log p(x|z) (distortion)."""
    return {"kl": float(A["kl"].mean()), "recon": float(-A["recon"].mean()), "name": f"this model ({latent_dim}-D latent)"}


INTRO = ("An encoder maps an image $x$ to a Gaussian $q(z\\mid x)$ over a small **latent code** $z$; a decoder maps "
         "$z$ back to an image. Training maximises the **ELBO** $= \\mathbb{E}_q[\\log p(x\\mid z)] - "
         "\\mathrm{KL}(q(z\\mid x)\\,\\|\\,\\mathcal N(0, I))$: reconstruct well, but keep every code close to the "
         "prior, so that decoding *any* $z \\sim \\mathcal N(0, I)$ gives a plausible image -- the first half of a "
         "hotdog generator.")
NO_MODEL = ("No VAE checkpoint is shipped here and no run has trained yet: press **Train** in the sidebar, or "
            "reproduce one with `python -m dlviz.train vae_digits2`.")


def live_caption(name: str, step: int) -> str:
    return f"{name} at step {step}: test images, their reconstructions, and samples from the prior."


def nats_caption(model, images, elbo: float) -> str:
    """:func:`dlviz.vae.views.likelihood_caption` for this model on these images (the floor or σ it needs)."""
    from dlviz.vae.views import bernoulli_floor, likelihood_caption

    lik = model.config.likelihood
    return likelihood_caption(lik, elbo, int(np.prod(images.shape[1:])),
                              floor=bernoulli_floor(images) if lik == "bernoulli" else None,
                              sigma=float(model.sigma) if lik == "gaussian" else None)


def umap_status(latent_dim: int, want: str, method: str, live_training: bool, job) -> tuple[str, str] | None:
    """What to say when UMAP was asked for but PCA is drawn: ``("info"|"warning", text)``, ``("wait", "")``
    while the background job computes, None when there is nothing to say."""
    if latent_dim <= 2 or want != "UMAP" or method == "umap":
        return None
    if live_training:
        return "info", "UMAP is computed once the run stops; PCA meanwhile."
    if job is None:
        return None
    return ("warning", job.error + " -- showing PCA.") if job.error else ("wait", "")


SAMPLES = ("Each image decodes one code. From the prior, a code often lands where no training image was encoded (a "
           "hole in the aggregate posterior) and decodes to a blend; the mixture is fitted to the posterior means of "
           "the training images (10 full-covariance Gaussians, Ghosh et al. 2020, \"ex-post density estimation\"), so "
           "its codes stay where the decoder was trained. The network is the same; only its input changes.")
SAMPLE_SOURCE_HELP = ("The prior N(0, I) is what the ELBO assumes. The mixture is fitted once per model to the codes "
                      "of its training images.")
TRY_THIS = [
    "On *digits · 2-D latent*, open **Manifold**: where does a 4 turn into a 9? Then click a 4 and a 9 on the map "
    "and compare the linear and spherical paths.",
    "On a 16-D model, read the midpoint norms under the strips: the linear path dips toward the origin, the "
    "spherical one does not. Which midpoint is nearer √D, where the prior's samples lie, and does its frame look "
    "better?",
    "Train with **β = 8** on the digits and open **Diagnostics**: how many units stay active, and what happened to "
    "the reconstructions?",
    "Switch on the **β sweep** and watch four runs trace the rate–distortion curve.",
    "Train a **64-D** VAE: most units collapse to the prior (grey bars), yet the ELBO barely changes. Why?",
    "Pick *hotdogs · 32-D* and press **Sample from the prior** a few times: how often is it a hotdog? Then train "
    "with learning rate 10 and watch the loss explode: the page tells you, though no NaN ever appears.",
    "On *food shapes · 32-D*, open **Samples** and switch from the prior to the fitted mixture: how many more samples "
    "does the classifier read, and how far does the Fréchet distance fall?",
]

"""Small pieces of the VAE page's views that are not Streamlit: which images to show, where a path
lands on a 2-D map, which points get a thumbnail, and the landing-page thumbnail."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dlviz.vae.embed import Projection, knn_place, pca_projection

SELECTIONS = ("first", "random", "lowest ELBO", "highest ELBO")


def select_images(elbos: np.ndarray, how: str = "first", n: int = 12, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` images: the first, a random draw, or the worst / best by ELBO."""
    if how not in SELECTIONS:
        raise ValueError(f"how must be one of {SELECTIONS}")
    n = min(n, len(elbos))
    if how == "first":
        return np.arange(n)
    if how == "random":
        return np.sort(np.random.default_rng(seed).choice(len(elbos), n, replace=False))
    order = np.argsort(elbos, kind="stable")
    return order[:n] if how == "lowest ELBO" else order[::-1][:n]


def place_on_map(points: np.ndarray, method: str, projection: Projection | None = None,
                 codes: np.ndarray | None = None, embedding: np.ndarray | None = None) -> np.ndarray:
    """Map positions ``(M, 2)`` of codes ``points (M, D)``: the exact linear map for ``identity``/``pca``,
    nearest-code placement for ``umap``."""
    if method == "umap":
        if codes is None or embedding is None:
            raise ValueError("placing on a UMAP needs the codes and their embedding")
        return knn_place(points, codes, embedding)
    if projection is None:
        raise ValueError("a linear map needs its projection")
    return projection(points)


def spread_points(xy: np.ndarray, n: int = 120, seed: int = 0) -> np.ndarray:
    """Up to ``n`` indices of points spread over the map: one per cell of a ~sqrt(n) x sqrt(n) grid
    (the point nearest each occupied cell's centre), so thumbnails do not pile up."""
    if len(xy) == 0:
        return np.zeros(0, dtype=int)
    k = max(1, int(np.sqrt(n)))
    lo, hi = xy.min(0), xy.max(0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    cell = np.minimum(((xy - lo) / span * k).astype(int), k - 1)
    cid = cell[:, 0] * k + cell[:, 1]
    centre = lo + (cell + 0.5) / k * span
    dist = ((xy - centre) ** 2).sum(1)
    best: dict[int, int] = {}
    for i in np.random.default_rng(seed).permutation(len(xy)):
        c = int(cid[i])
        if c not in best or dist[i] < dist[best[c]]:
            best[c] = int(i)
    return np.array(sorted(best.values()), dtype=int)


def thumbnail() -> np.ndarray:
    """The landing-page card, ``(160, 320, 3)`` uint8: the decoded manifold of the shipped 2-D digits VAE
    beside 25 samples of the hotdog VAE from the mixture fitted to its training codes (:mod:`dlviz.vae.expost`)."""
    from dlviz.checkpoints import load_shipped
    from dlviz.imaging import tile
    from dlviz.vae import expost
    from dlviz.vae.core import manifold
    from dlviz.vae.training import load_data

    digits, _ = load_shipped("vae_digits2", expected_arch="conv_vae")
    left = tile(manifold(digits, (0, 1), n=10)[0], pad=0)                             # (160, 160, 3)
    try:
        hotdog, _ = load_shipped("vae_hotdog32", expected_arch="conv_vae")
    except Exception:  # noqa: BLE001 - the card still shows the digits
        return left
    mix = expost.fit_code_mixture(hotdog, load_data("hotdog", "train").images)
    right = tile(expost.draw(hotdog, 25, "mixture", mix, seed=1)[1], ncol=5, pad=0)            # (160, 160, 3)
    return np.concatenate([left, right], axis=1)


# ------------------------------------------------------------------ figure assembly for the page's views
AXES = {"identity": ("z₀", "z₁"), "pca": ("PC 1", "PC 2"), "umap": ("UMAP 1", "UMAP 2")}


def reconstruction_view(model, data, idx: list[int], elbos: np.ndarray):
    """Originals over ``decode(encode(x))`` for images ``idx`` of ``data``, labelled with class and ELBO."""
    from dlviz.vae.plots import reconstruction_figure
    from dlviz.imaging import tile
    from dlviz.vae.core import reconstruct

    x = data.images[idx]
    mos = tile(torch.cat([x, reconstruct(model, x)]), ncol=len(idx))
    labs = [f"#{i} ({data.class_names[int(data.labels[i])]})" for i in idx]
    return reconstruction_figure(mos, len(idx), elbos[idx], labs, height=260 if data.shape[1] < 32 else 300)


def interpolation_frames(model, mu: np.ndarray, ia: int, ib: int, steps: int, mode: str, scale: int = 4
                         ) -> list[np.ndarray]:
    """The decoded path from image ``ia``'s code to ``ib``'s, forth and back, as uint8 frames (a GIF's)."""
    from dlviz.imaging import to_uint8, upscale
    from dlviz.vae.core import decode, interpolate

    frames = to_uint8(decode(model, interpolate(torch.from_numpy(mu[ia]), torch.from_numpy(mu[ib]), steps, mode)))
    frames = [upscale(f, scale) for f in frames]
    return frames + frames[-2:0:-1]


def interpolation_view(model, mu: np.ndarray, ia: int, ib: int, steps: int, method: str, projection: Projection,
                       embedding: np.ndarray) -> dict:
    """Both interpolations between the codes of images ``ia`` and ``ib``: their map positions, the strips,
    the norm profiles and the midpoint norms."""
    from dlviz.vae.plots import norm_profile_figure, strips_figure
    from dlviz.imaging import tile
    from dlviz.vae.core import INTERPOLATIONS, decode, interpolate

    za, zb = torch.from_numpy(mu[ia]), torch.from_numpy(mu[ib])
    paths = {m: interpolate(za, zb, steps, m) for m in INTERPOLATIONS}
    frames = {m: decode(model, p) for m, p in paths.items()}
    norms = {m: p.norm(dim=1).numpy() for m, p in paths.items()}
    return {"on_map": {m: place_on_map(p.numpy(), method, projection, mu, embedding) for m, p in paths.items()},
            "strips": strips_figure({m: tile(f, ncol=steps) for m, f in frames.items()}, steps, height=200),
            "norms": norm_profile_figure(np.linspace(0, 1, steps), norms, float(np.sqrt(mu.shape[1])), height=230),
            "mid": {m: float(n[steps // 2]) for m, n in norms.items()}}


def map_view(data, xy: np.ndarray, method: str, hover: list[str], elbos: np.ndarray | None, paths: dict,
             ia: int, ib: int, thumbnails: bool = False):
    """The latent map: the codes, coloured by class (or by ELBO when ``elbos`` is given), the paths and
    their endpoints A and B, and optionally ~150 images drawn at their points."""
    from dlviz.vae.plots import latent_map_figure
    from dlviz.imaging import to_uint8

    thumbs, size = None, 0.0
    if thumbnails:
        size = (float(np.ptp(xy, 0).max()) or 1.0) / 16
        thumbs = [(*xy[i], to_uint8(data.images[i])) for i in spread_points(xy, 150)]
    return latent_map_figure(xy, data.labels.numpy(), data.class_names, hover, color=elbos, color_name="ELBO",
                             axis_names=AXES[method], paths=paths, endpoints={"A": tuple(xy[ia]), "B": tuple(xy[ib])},
                             thumbnails=thumbs, thumb_size=size, height=560)


def manifold_view(model, dims: tuple[int, ...], n: int, coverage: float, base: torch.Tensor | None):
    """The decoded grid over two latent dimensions at prior quantiles, with the z values on the axes (one row
    over ``dims = (d,)`` for a 1-D latent)."""
    from dlviz.vae.plots import mosaic_figure
    from dlviz.imaging import tile
    from dlviz.vae.core import decode, manifold, prior_quantile_grid

    g = prior_quantile_grid(n, coverage)
    if len(dims) == 1:
        z = torch.zeros(n, model.config.latent_dim) if base is None else base.float().repeat(n, 1)
        z[:, dims[0]] = g
        every = max(1, n // 8)
        fig = mosaic_figure(tile(decode(model, z), ncol=n, pad=0), None, height=160, ncols=n, nrows=1,
                            col_labels=[f"{v:+.1f}" if i % every == 0 else "" for i, v in enumerate(g.tolist())],
                            row_labels=[""])
        return fig.update_layout(xaxis_title=f"z{dims[0]}")
    imgs, rows, cols = manifold(model, dims, n, base=base, values=(g, g))
    every = max(1, n // 8)
    fig = mosaic_figure(tile(imgs, pad=0), None, height=620, ncols=n, nrows=n,
                        col_labels=[f"{v:+.1f}" if i % every == 0 else "" for i, v in enumerate(cols.tolist())],
                        row_labels=[f"{v:+.1f}" if i % every == 0 else "" for i, v in enumerate(rows.tolist())])
    return fig.update_layout(xaxis_title=f"z{dims[0]}", yaxis_title=f"z{dims[1]}")


def live_snapshot(model, data, n_map: int = 600):
    """What the page shows while a run trains: a mosaic of 8 test images, their reconstructions and 8
    prior samples (as a figure holding one PNG), and a small map of the test codes (exact for a 2-D latent,
    PCA above)."""
    from dlviz.vae.plots import latent_map_figure, mosaic_figure
    from dlviz.imaging import tile
    from dlviz.vae.core import encode, reconstruct, sample_prior
    from dlviz.vae.embed import pca_projection

    x = data.images[:8]
    _, samples = sample_prior(model, 8, torch.Generator().manual_seed(0))
    mosaic = tile(torch.cat([x, reconstruct(model, x), samples]), ncol=8)
    n = min(len(data), n_map)
    mu = encode(model, data.images[:n])[0].numpy()
    fig = latent_map_figure(pca_projection(mu)(mu), data.labels[:n].numpy(), data.class_names,
                            [f"#{i}" for i in range(n)], height=300,
                            axis_names=AXES["identity" if model.config.latent_dim <= 2 else "pca"])
    mos_fig = mosaic_figure(mosaic, None, height=300, row_labels=["test", "recon.", "prior"], nrows=3)
    return mos_fig, fig.update_layout(showlegend=False, margin={"t": 4, "b": 4})


# ------------------------------------------------------------------ what the page computes once per model
def analysis(model, data) -> dict:
    """Everything the page's views read about ``model`` on the test set ``data``: per-image ELBO and its
    terms (one sample each, seed 0), the posterior means ``mu``, their PCA projection ``proj`` and 2-D
    positions ``xy``, the latent statistics, the reconstruction MSE and the map's hover texts."""
    from dlviz.vae.core import evaluate

    ev = evaluate(model, data.images, generator=torch.Generator().manual_seed(0))
    terms, stats = ev.terms, ev.stats
    mu = stats.mu.numpy()
    proj = pca_projection(mu)
    el = terms.elbo.numpy()
    hover = [f"#{i} · {data.class_names[c]} · ELBO {e:.1f}" for i, (c, e) in enumerate(zip(data.labels.tolist(), el))]
    return {"elbo": el, "recon": terms.recon.numpy(), "kl": terms.kl.numpy(), "mu": mu, "stats": stats, "proj": proj,
            "xy": proj(mu), "mse": ev.recon_mse, "hover": hover}


def iwae_estimate(model, x: torch.Tensor, k: int) -> tuple[float, float]:
    """(mean IWAE-k bound, mean ELBO) of the images ``x``, both with a generator seeded 0 (in that order)."""
    from dlviz.vae.core import elbo, iwae_bound

    g = torch.Generator().manual_seed(0)
    return float(iwae_bound(model, x, k=k, generator=g).mean()), float(elbo(model, x, generator=g).elbo.mean())


def rate_distortion_points(shipped_sweep: list[dict], trainers: dict) -> list[dict]:
    """The rate-distortion plot's points: a shipped checkpoint's beta sweep and the finished live runs
    (named ``β=<value>`` in a sweep) that measured their test KL."""
    points = [{**p, "source": "shipped sweep (digits, 16-D)"} for p in shipped_sweep]
    for name, t in trainers.items():
        if np.isfinite(t.latest("test_kl")):
            b = float(name.split("=")[1]) if "=" in name else float("nan")
            points.append({"beta": b, "kl": t.latest("test_kl"), "recon": t.latest("test_recon"), "source": "your runs"})
    return points


def clicked_points(event) -> list:
    """The ``customdata`` (test-image indices) of the points a plotly selection event picked."""
    pts = (event or {}).get("selection", {}).get("points", []) if event else []
    return [p.get("customdata") for p in pts if isinstance(p.get("customdata"), (int, float))]


def slider_value(v: float, step: float = 0.05, limit: float = 4.0) -> float:
    """A latent value as a latent slider can hold it: rounded to ``step``, clipped to ``±limit``."""
    return float(np.clip(round(float(v) / step) * step, -limit, limit))


@dataclass
class Explored:
    """The model the page's views explore, its test data, and ``ck``: the key naming both in every cached view."""

    src: str
    model: object
    card: dict
    dkey: str
    test: object
    ck: str
    step: int = 0          # the training step of the weights explored (a live run moves on)
    droot: str | None = None      # where its data came from (a folder of the student's own, or None)
    dfolder: str | None = None


def model_sources(shipped_names, available, run) -> tuple[list[str], int]:
    """The Explore radio's options (the shipped checkpoints present, then ``live:<trainer>`` for each trainer
    of a run that has taken a step) and the default: the first run if there is one."""
    sources = [s for s in shipped_names if s in available]
    if run is not None and run.trainer.step > 0:
        sources += [f"live:{n}" for n in run.trainers]
    n_shipped = sum(s in shipped_names for s in sources)
    return sources, n_shipped if len(sources) > n_shipped else 0


def summary_metrics(A: dict, n_images: int, n_pix: int, latent_dim: int,
                    likelihood: str = "bernoulli") -> list[tuple[str, str, str]]:
    """The page's headline numbers as (label, value, help)."""
    what = ("a Bernoulli cross-entropy of grey-level pixels: unnormalised, see below" if likelihood == "bernoulli"
            else "a log-density of continuous pixel values: it can be positive")
    return [
        ("Test ELBO", f"{A['elbo'].mean():.1f} nats", f"Mean over {n_images} held-out images, one sample each; "
         f"{A['elbo'].mean() / n_pix:+.3f} nats per pixel value ({n_pix:,} values). Higher is better; {what}."),
        ("Reconstruction term", f"{A['recon'].mean():.1f} nats", f"E_q[log p(x|z)]: {what}."),
        ("KL to the prior", f"{A['kl'].mean():.1f} nats", "Closed form; the *rate*: an upper bound on the "
         f"mutual information I(x; z) between an image and its code (at most about {A['kl'].mean() / np.log(2):.0f} "
         "bits per image), not the information itself."),
        ("Active units", f"{A['stats'].n_active} / {latent_dim}", "Units with Var_x E_q[z_d] > 0.01 (Burda et al. 2016)."),
        ("Reconstruction MSE", f"{A['mse']:.4f}", "Mean squared pixel error of decode(encode(x)), mean code."),
    ]


def bernoulli_floor(images: torch.Tensor) -> float:
    """Mean over images of the pixels' own entropy, sum_i H(x_i) in nats, H(x) = -x log x - (1-x) log(1-x):
    the best E[log p(x|z)] a Bernoulli decoder can reach on grey-level pixels is minus this (at p = x)."""
    x = images.double().clamp(0, 1).flatten(1)
    h = -(torch.special.xlogy(x, x) + torch.special.xlogy(1 - x, 1 - x))
    return float(h.sum(1).mean()) if len(x) else float("nan")


def likelihood_caption(likelihood: str, elbo: float, n_pix: int, floor: float | None = None,
                       sigma: float | None = None) -> str:
    """What the ELBO's nats mean for this decoder on this data (issue 15: they are easily over-read)."""
    if likelihood == "bernoulli":
        return (f"**What these nats are.** The decoder is a Bernoulli distribution, made for *binary* pixels, but "
                f"these pixels are grey levels in [0, 1]: log p(x|z) = Σ x log p + (1 − x) log(1 − p) is then a "
                f"cross-entropy, not the log-probability of the image. Even a perfect decoder (p = x) scores "
                f"−{floor:.1f} nats per image on this test set (minus the pixels' own entropy), so of the ELBO's "
                f"{elbo:.1f} nats, {floor:.1f} are a floor no model can remove. The ELBO, log p(x|z) and the IWAE "
                f"bound here are of this unnormalised quantity: compare them between models on the same data, not "
                f"with published MNIST numbers (those binarise the pixels).")
    sig = f" (σ = {sigma:.3f}, much less than 1)" if sigma is not None else ""
    return (f"**What these nats are.** The Gaussian decoder gives a *density* over continuous pixel values, and a "
            f"density can exceed 1{sig}: log p(x|z), and so the ELBO, can be positive. Here the ELBO is "
            f"{elbo:+.0f} nats per image = {elbo / n_pix:+.2f} nats per pixel value ({n_pix:,} values). It ranks "
            f"models on the same data; it is not a probability of the image.")


def should_follow(explored: tuple | None, trainer_step: int, now: float, active: bool) -> bool:
    """Whether the page should redraw its views of a live run: ``explored`` is ``(source, step shown, time shown,
    seconds the views took)``; redraw when the run moved on, at most every ``max(5 s, 10 x their cost)``."""
    if not active or explored is None or not str(explored[0]).startswith("live:"):
        return False
    _, step, shown_at, cost = explored
    return trainer_step > step and now - shown_at >= max(5.0, 10.0 * cost)


def map_caption(method: str, latent_dim: int, explained=None) -> str:
    """What the latent map shows, for its caption."""
    if method == "pca":
        return (f"PCA of the {latent_dim}-D posterior means: the axes hold {explained[0]:.0%} and {explained[1]:.0%} of "
                "their variance. Paths are projected exactly (a straight path stays straight). Click a dot to make it "
                "A or B.")
    if method == "umap":
        return ("UMAP of the posterior means (neighbours stay neighbours; distances and axes mean little). "
                "Path points sit at the weighted mean of their 8 nearest codes. Click a dot to make it A or B.")
    if latent_dim == 1:
        return ("The 1-D latent itself: each dot's x is a test image's posterior mean (y = 0: there is no second "
                "axis). Click a dot to make it A or B.")
    return "The 2-D latent itself: each dot is a test image's posterior mean. Click a dot to make it A or B."


def clamp_endpoints(state, prefix: str, n: int, defaults: dict[str, int]) -> dict[str, int]:
    """Keep the endpoint indices ``state[f"{prefix}-A"]``/``-B`` inside a test set of ``n`` images (an index left
    over from a larger set goes back to its default) and return the defaults, clipped, for the widgets to start at
    (set as widget defaults, not in ``state``, so a link's values are not overwritten)."""
    clipped = {ab: min(int(d), n - 1) for ab, d in defaults.items()}
    for ab, d in clipped.items():
        if state.get(f"{prefix}-{ab}", 0) >= n:
            state[f"{prefix}-{ab}"] = d
    return clipped


def small_map_figure(xy: np.ndarray, data, hover: list[str]):
    """The latent sliders' small map: the test codes and a star (the last trace) where the sliders' code sits."""
    from dlviz.vae.plots import latent_map_figure

    fig = latent_map_figure(xy, data.labels.numpy(), data.class_names, hover, axis_names=("", ""),
                            marker=(0.0, 0.0), height=260)
    return fig.update_layout(showlegend=False, margin={"t": 4, "b": 4})


def loss_warnings(trainers: dict) -> list[str]:
    """:func:`dlviz.vae.training.loss_health`'s message for each trainer going wrong (named when there are several)."""
    from dlviz.vae.training import loss_health

    msgs = [(name, loss_health(t.history("loss")[1])) for name, t in trainers.items()]
    return [f"{name}: {msg}" if len(trainers) > 1 else msg for name, msg in msgs if msg]


def snippet_body(checkpoint: str | None, dataset: str, root: str | None = None, folder: str | None = None) -> str:
    """Plain Python (dlviz only) that recomputes the page's test ELBO: one sample per image, generator seed 0."""
    load = (f'model, _ = load_shipped("{checkpoint}", expected_arch="conv_vae")' if checkpoint else
            '# your run is not shipped: download it (sidebar, "Download this model") and load the file\n'
            'model, _ = load_checkpoint("my_vae.pt", expected_arch="conv_vae")')
    return f'''import torch
from dlviz.checkpoints import load_checkpoint, load_shipped
from dlviz.vae import evaluate, load_data

{load}
test = load_data("{dataset}", "test"{f", root={root!r}" if root else ""}{f", folder={folder!r}" if folder else ""})
ev = evaluate(model, test.images, generator=torch.Generator().manual_seed(0))
result = float(ev.terms.elbo.mean())        # nats per image, averaged over the held-out images
print(f"{{result:.1f}} nats")
'''


def history_rows(trainers: dict) -> list[dict]:
    """Every run's recorded metrics, long-form (run, metric, step, value): the training log as a table."""
    return [{"run": name, "metric": k, "step": s, "value": v} for name, t in trainers.items()
            for k, (steps, vals) in sorted(t.history().items()) for s, v in zip(steps, vals)]

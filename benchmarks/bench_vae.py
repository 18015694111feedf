"""Benchmarks for the VAE page: the server-side work behind each interaction, timed on this machine.

    python benchmarks/bench_vae.py            # prints the table
    (also collected by python benchmarks/run.py)

Each row times what the page does for one interaction with the caches cold (the page caches most
results, so a repeat costs a cache hit): a latent-slider move (decode one code, draw the image and the
small map), an interpolation, the manifold grid, the first analysis of a test set, the PCA the map
shows at once, the UMAP that runs in a background thread, and a live training run on the digits.
"""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path
from timing import best_of  # benchmarks/timing.py

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402


def _best(fn, repeat: int = 5) -> float:
    """Best of ``repeat`` wall times in ms (the machine's noise is one-sided)."""
    return 1000 * best_of(fn, repeat)


def _figure_json(fig) -> None:
    """What st.plotly_chart does with a figure: a dict copy, then JSON."""
    import plotly.io

    plotly.io.to_json(fig.to_dict(), validate=False)


def rows() -> list[dict]:
    out = []
    for name, key in (("vae_digits16", "digits"), ("vae_food32", "food")):
        out += model_rows(name, key)
    return out + training_rows()


def model_rows(name: str, key: str) -> list[dict]:
    from PIL import Image

    from dlviz import vae as V
    from dlviz.checkpoints import load_shipped
    from dlviz.imaging import gif_bytes, tile, to_uint8, upscale
    from dlviz.vae import plots as P
    from dlviz.vae import embed, views

    out = []
    area = "page: vae"
    model, _ = load_shipped(name, expected_arch="conv_vae")
    test = V.load_data(key, "test")
    ev = None

    def analyse():
        nonlocal ev
        ev = V.evaluate(model, test.images, generator=torch.Generator().manual_seed(0))
    out.append(dict(area=area, what=f"first analysis of the test set ({len(test)} images, {name}), uncached",
                    value=_best(analyse, 2), unit="ms", budget="< 1500 ms"))
    mu = ev.stats.mu.numpy()
    proj = embed.pca_projection(mu)
    out.append(dict(area=area, what=f"PCA map of {len(mu)} codes (shown at once)", value=_best(lambda: embed.pca_projection(mu)(mu)),
                    unit="ms", budget="< 50 ms"))
    xy = proj(mu)
    labels = test.labels.numpy()
    hover = [f"#{i}" for i in range(len(mu))]
    small = P.latent_map_figure(xy, labels, test.class_names, hover, marker=(0.0, 0.0), height=260)
    z = torch.from_numpy(mu[0]).clone()

    def slider_move():
        z[0] += 0.05
        img = V.decode(model, z[None])
        big = upscale(to_uint8(img[0]), 7)
        Image.fromarray(big).save(io.BytesIO(), format="PNG")          # what st.image sends
        star = views.place_on_map(z[None].numpy(), "pca", proj)[0]
        small.data[-1].update(x=[float(star[0])], y=[float(star[1])])
        _figure_json(small)
    out.append(dict(area=area, what=f"latent slider move: decode + image + small map ({name})",
                    value=_best(slider_move, 10), unit="ms", budget="< 100 ms"))

    def interpolation():
        za, zb = torch.from_numpy(mu[0]), torch.from_numpy(mu[1])
        paths = {m: V.interpolate(za, zb, 9, m) for m in V.INTERPOLATIONS}
        frames = {m: V.decode(model, p) for m, p in paths.items()}
        fig = P.strips_figure({m: tile(f, ncol=9) for m, f in frames.items()}, 9)
        _figure_json(fig)
        gif_bytes(frames["spherical"], scale=4, bounce=True)
    out.append(dict(area=area, what=f"interpolation: 2 paths x 9 codes, strips, GIF ({name}), uncached",
                    value=_best(interpolation, 3), unit="ms", budget="< 300 ms"))

    def grid():
        imgs, _, _ = V.manifold(model, (0, 1), 15)
        _figure_json(P.mosaic_figure(tile(imgs, pad=0), height=620))
    out.append(dict(area=area, what=f"manifold 15x15 decoded + drawn ({name}), uncached",
                    value=_best(grid, 3), unit="ms", budget="< 500 ms"))

    t0 = time.perf_counter()
    job = embed.umap_job(f"bench-{name}-{time.time()}", mu)             # no cache: a real computation
    handed_back = (time.perf_counter() - t0) * 1000
    out.append(dict(area=area, what=f"page gets control back after requesting UMAP ({len(mu)} codes)",
                    value=handed_back, unit="ms", budget="< 20 ms"))
    time.sleep(0.5)
    out.append(dict(area=area, what=f"latent slider move while that UMAP runs in the background ({name})",
                    value=_best(slider_move, 10), unit="ms", budget="< 100 ms"))
    job.wait(600)
    out.append(dict(area=area, what=f"UMAP of {len(mu)} codes in the background thread"
                    + (" (incl. import + numba compile)" if name == "vae_digits16" else ""),
                    value=job.seconds, unit="s", budget="off the page; PCA meanwhile"))
    time.sleep(3)        # numba/BLAS worker threads spin for a moment after UMAP: let them settle
    return out


def training_rows() -> list[dict]:
    from dlviz import vae as V
    from dlviz.checkpoints import load_shipped
    from dlviz.metrics import accuracy
    from dlviz.models import build_model
    from dlviz.vae.training import LIVE_DEFAULTS, RECOGNISABLE_STEPS

    train, test = V.load_data("digits", "train"), V.load_data("digits", "test")
    torch.manual_seed(0)
    m = build_model("conv_vae", **V.default_config("digits", 16))
    tr = V.make_trainer(m, train, steps=RECOGNISABLE_STEPS, lr=LIVE_DEFAULTS["lr"],
                        batch_size=LIVE_DEFAULTS["batch_size"])
    t0 = time.perf_counter()
    tr.run()
    wall = time.perf_counter() - t0
    clf, _ = load_shipped("digits_cnn")
    acc = accuracy(clf, V.reconstruct(m, test.images), test.labels)
    return [dict(area="train: vae", what=f"fresh digits VAE, {RECOGNISABLE_STEPS} steps (digit classifier reads "
                 f"{acc:.0%} of its reconstructions), {torch.get_num_threads()} threads",
                 value=wall, unit="s", budget="< 30 s"),
            dict(area="train: vae", what="training throughput on the digits (batch 64)",
                 value=RECOGNISABLE_STEPS / wall, unit="steps/s", budget="")]


if __name__ == "__main__":
    for r in rows():
        print(f"{r['area']:14s} {r['what'][:92]:92s} {r['value']:10.1f} {r['unit']:8s} {r['budget']}")

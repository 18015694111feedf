"""Generative adversarial networks (Goodfellow et al., 2014): the two-player game on 2-D toy data and on
small images, its losses, and the measurements of mode collapse.

Papers: Goodfellow et al. 2014 (minimax and non-saturating losses, D*(x) = p_data / (p_data + p_g));
Mao et al. 2017 (least squares); Gulrajani et al. 2017 (WGAN-GP); Lim & Ye 2017 / Miyato et al. 2018
(hinge); Metz et al. 2017 (unrolled GANs); Lin et al. 2018 (PacGAN); Srivastava et al. 2017 (VEEGAN);
Radford et al. 2016 (DCGAN).

* :mod:`dlviz.gans.core` -- the losses, optimal discriminators, packing and the unrolled D;
* :mod:`dlviz.gans.data` -- the 2-D data sets (ring, grid, moons, spiral, the student's own points);
* :mod:`dlviz.gans.metrics` -- modes captured, high-quality share, reverse KL of the mode histogram;
* :mod:`dlviz.gans.training` -- the game as a :class:`dlviz.train.Trainer` step (D steps per G step);
* :mod:`dlviz.gans.views` / :mod:`dlviz.gans.plots` -- the layered view and its figures.
"""

from dlviz.gans.core import LOSSES, d_loss, distance_estimate, g_loss, optimal_d, pack
from dlviz.gans.data import (DATASETS, Dataset2D, add_clicks, canvas_targets, clicked_points, combine_points, make_dataset,
                             parse_points, spray)
from dlviz.gans.metrics import ModeStats, mode_stats

__all__ = ["DATASETS", "LOSSES", "Dataset2D", "ModeStats", "d_loss", "distance_estimate", "g_loss", "make_dataset",
           "mode_stats", "optimal_d", "pack", "parse_points", "canvas_targets", "clicked_points", "combine_points", "spray",
           "add_clicks"]

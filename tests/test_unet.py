"""U-Net mathematics and data: IoU, Dice, boundary F1, merge counting and the weight map against hand-made
masks with known answers (and brute force), masks that agree with the drawn images, augmentation that
keeps image and mask aligned, the losses' limits, and the model's skip switches."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlviz.data import DataError
from dlviz.data.food_segmentation import food_segmentation, load_pairs
from dlviz.models import build_model
from dlviz.unet import core
from dlviz.unet.augment import AugSpec, augment
from dlviz.unet.losses import focal_loss, seg_loss, soft_dice_loss


# ---------------------------------------------------------------- IoU and Dice
def test_iou_and_dice_on_a_hand_made_row():
    true = np.array([[1, 1, 0, 0]])
    pred = np.array([[1, 0, 0, 0]])
    iou = core.iou_per_class(pred, true, 3)
    assert iou[1] == pytest.approx(1 / 2)          # 1 shared pixel of 2 in the union
    assert iou[0] == pytest.approx(2 / 3)          # background: pixels 2, 3 shared; 1, 2, 3 in the union
    assert math.isnan(iou[2])                      # class 2 nowhere: not counted
    assert core.mean_iou(pred, true, 3) == pytest.approx((1 / 2 + 2 / 3) / 2)
    dice = core.dice_per_class(pred, true, 3)
    assert dice[1] == pytest.approx(2 * 1 / (1 + 2)) and dice[0] == pytest.approx(2 * 2 / (3 + 2))


def test_dice_and_iou_are_related_by_d_equals_2j_over_1_plus_j():
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 4, (3, 16, 16)), rng.integers(0, 4, (3, 16, 16))
    j, d = core.iou_per_class(p, t, 4), core.dice_per_class(p, t, 4)
    np.testing.assert_allclose(d, 2 * j / (1 + j))
    assert core.mean_iou(t, t, 4) == 1.0


# ---------------------------------------------------------------- boundary F1
def _square(r0, c0, n=4, size=10):
    m = np.zeros((size, size), int)
    m[r0:r0 + n, c0:c0 + n] = 1
    return m


def test_boundary_of_a_square_is_its_ring():
    b = core.boundary(_square(2, 2))
    assert b.sum() == 12 and not b[3:5, 3:5].any() and b[2, 2:6].all()


def test_boundary_f1_of_a_one_pixel_shift():
    true, pred = _square(2, 2), _square(2, 3)
    assert core.boundary_f1(pred, true, 2, tol=1)[1] == pytest.approx(1.0)   # every pixel within 1 px
    # tol 0: 6 of 12 ring pixels coincide (rows 2 and 5, columns 3-5) -> P = R = 1/2
    assert core.boundary_f1(pred, true, 2, tol=0)[1] == pytest.approx(0.5)
    assert core.boundary_f1(np.zeros_like(true), true, 2)[1] == 0.0
    assert math.isnan(core.boundary_f1(true, true, 2)[0])                    # background left out


def test_boundary_f1_matches_brute_force():
    rng = np.random.default_rng(1)
    for _ in range(5):
        true = (rng.random((12, 12)) < 0.4).astype(int)
        pred = (rng.random((12, 12)) < 0.4).astype(int)
        bt, bp = np.argwhere(core.boundary(true == 1)), np.argwhere(core.boundary(pred == 1))
        dist = np.sqrt(((bp[:, None] - bt[None]) ** 2).sum(-1))           # all pairs
        p, r = (dist.min(1) <= 1.5).mean(), (dist.min(0) <= 1.5).mean()
        assert core.boundary_f1(pred, true, 2, tol=1.5)[1] == pytest.approx(2 * p * r / (p + r))


# ---------------------------------------------------------------- merges
def _two_cells():
    inst = np.zeros((6, 9), int)
    inst[1:5, 1:4], inst[1:5, 5:8] = 1, 2
    mask = (inst > 0).astype(int)
    inst[1:5, 4] = 0                                                  # separated by a 1-px background line
    return mask, inst


def test_merge_count_on_two_touching_cells():
    mask, inst = _two_cells()
    ok = core.count_merges(mask, mask, inst)
    assert (ok.true_objects, ok.merged, ok.missed, ok.components, ok.touching) == (2, 0, 0, 2, 2)
    glued = mask.copy()
    glued[1:5, 4] = 1                                                 # the prediction fills the line
    m = core.count_merges(glued, mask, inst)
    assert (m.merged, m.components) == (1, 1)
    half = mask.copy()
    half[:, 5:] = 0
    assert core.count_merges(half, mask, inst).missed == 1
    both = core.count_merges(np.stack([glued, mask]), np.stack([mask, mask]), np.stack([inst, inst]))
    assert (both.true_objects, both.merged) == (4, 1)


# ---------------------------------------------------------------- the weight map (eq. 2)
def test_weight_map_in_a_gap_of_three_pixels():
    inst = np.array([[1, 1, 1, 0, 0, 0, 2, 2, 2]])
    mask = (inst > 0).astype(int)
    w = core.weight_map(mask, inst, 2, w0=10, sigma=5)
    # w_c: 3 background and 6 cell pixels -> 9 / (2 * 3) = 1.5 and 9 / (2 * 6) = 0.75
    np.testing.assert_allclose(w[0, :3], 0.75)
    # every gap pixel has d1 + d2 = 4 (e.g. column 3: 1 to the left cell, 3 to the right)
    np.testing.assert_allclose(w[0, 3:6], 1.5 + 10 * math.exp(-16 / 50))
    assert core.border_term(np.array([[1, 0, 0]])).max() == 0.0        # one object: no border term


def test_border_term_matches_brute_force_distances():
    rng = np.random.default_rng(2)
    inst = np.zeros((10, 10), int)
    for k in range(1, 4):
        r, c = rng.integers(0, 8, 2)
        inst[r:r + 2, c:c + 2] = k
    got = core.border_term(inst, w0=10, sigma=5)
    ids = [i for i in np.unique(inst) if i > 0]
    pix = np.argwhere(np.ones_like(inst, bool))
    for (r, c) in pix:
        if inst[r, c] != 0:
            assert got[r, c] == 0
            continue
        d = sorted(np.sqrt(((np.argwhere(inst == i) - [r, c]) ** 2).sum(1)).min() for i in ids)
        assert got[r, c] == pytest.approx(10 * math.exp(-(d[0] + d[1]) ** 2 / 50))


def test_the_weight_map_peaks_between_touching_cells():
    d = food_segmentation(4, seed=0, size=64, variant="cells")
    w = core.weight_map(d.masks[0].numpy(), d.instances[0].numpy(), 2)
    lines = (d.masks[0].numpy() == 0) & (d.instances[0].numpy() > 0)   # the separating lines
    far = (d.instances[0].numpy() == 0)
    assert lines.any() and w[lines].mean() > 3 * w[far].mean()


# ---------------------------------------------------------------- data
@pytest.mark.parametrize("variant", ["foods", "cells"])
def test_data_is_deterministic(variant):
    a = food_segmentation(5, seed=3, size=32, variant=variant)
    b = food_segmentation(5, seed=3, size=32, variant=variant)
    c = food_segmentation(5, seed=4, size=32, variant=variant)
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
    assert not torch.equal(a.images, c.images)
    assert a.images.shape == (5, 3, 32, 32) and a.masks.shape == (5, 32, 32)


@pytest.mark.parametrize("variant", ["foods", "cells"])
def test_masks_agree_with_the_drawn_images(variant):
    full = food_segmentation(12, seed=1, size=64, variant=variant, noise=False)
    table = food_segmentation(12, seed=1, size=64, variant=variant, noise=False, draw_objects=False)
    assert torch.equal(full.masks, table.masks)
    from scipy import ndimage

    for i in range(12):
        inst = full.instances[i].numpy()
        near = ndimage.binary_dilation(inst > 0, structure=np.ones((3, 3)))   # 1 px of anti-aliasing
        diff = (full.images[i] - table.images[i]).abs().amax(0).numpy()
        # beyond that band only the faint anti-aliased tips of sharp corners (coverage < 1/2) may show
        assert (diff[~near] > 1e-5).mean() < 0.005, "pixels labelled background far from every object were painted"
        assert diff[~near].max() < 0.25
        assert (diff[inst > 0] > 0.02).mean() > 0.9, "pixels labelled as an object look like the table"


def test_touching_same_class_objects_are_separated_in_the_class_mask():
    d = food_segmentation(20, seed=0, size=64, variant="cells")
    m, inst = d.masks.numpy(), d.instances.numpy()
    for axis in (1, 2):
        a, b = np.take(inst, range(63), axis), np.take(inst, range(1, 64), axis)
        ma, mb = np.take(m, range(63), axis), np.take(m, range(1, 64), axis)
        assert not ((ma == mb) & (ma > 0) & (a != b)).any()
    for i in range(20):                     # so connected components of the true mask never join two objects
        comp = core.instances_from_mask(m[i])
        assert all(len(np.unique(inst[i][comp == k])) == 1 for k in range(1, comp.max() + 1))


def test_user_pairs_with_clear_errors(tmp_path):
    from PIL import Image

    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for k in range(3):
        Image.fromarray(np.full((20, 20, 3), 40 * k, np.uint8)).save(tmp_path / "images" / f"a{k}.png")
        mk = np.zeros((20, 20), np.uint8)
        mk[5:10, 5:10] = 1
        Image.fromarray(mk).save(tmp_path / "masks" / f"a{k}.png")
    d = load_pairs(tmp_path, size=32)
    assert d.images.shape == (3, 3, 32, 32) and d.num_classes == 2 and int(d.instances.max()) == 1
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "masks" / "a0.png")
    with pytest.raises(DataError, match="same size"):
        load_pairs(tmp_path)
    (tmp_path / "masks" / "a0.png").unlink()
    with pytest.raises(DataError, match="no partner"):
        load_pairs(tmp_path)
    with pytest.raises(DataError, match="sub-folders"):
        load_pairs(tmp_path / "images")


# ---------------------------------------------------------------- augmentation and losses
@pytest.mark.parametrize("spec", [AugSpec(flips=True), AugSpec(rotation_deg=30), AugSpec(elastic_px=3)])
def test_augmentation_moves_image_and_mask_together(spec):
    d = food_segmentation(6, seed=0, size=32, variant="cells")
    x = d.masks[:, None].float().repeat(1, 3, 1, 1)                    # an image that *is* its mask
    xa, ma, wa = augment(x, d.masks, torch.ones(6, 32, 32), spec, torch.Generator().manual_seed(0))
    agree = ((xa[:, 0] > 0.5).long() == ma).float().mean()
    assert agree > (0.999 if spec.flips else 0.95)
    assert torch.allclose(wa, torch.ones_like(wa))
    if spec.flips:
        assert torch.equal(xa[:, 0].round().long(), ma)                  # a flip is exact


def test_no_augmentation_is_the_identity():
    x, m = torch.rand(2, 3, 8, 8), torch.randint(0, 3, (2, 8, 8))
    xa, ma, _ = augment(x, m, None, AugSpec())
    assert xa is x and ma is m


def test_losses_limits():
    t = torch.randint(0, 3, (2, 8, 8))
    perfect = 50 * F.one_hot(t, 3).permute(0, 3, 1, 2).float()
    assert soft_dice_loss(perfect, t) < 1e-6
    logits = torch.randn(2, 3, 8, 8)
    assert torch.allclose(focal_loss(logits, t, gamma=0.0), F.cross_entropy(logits, t))
    assert focal_loss(logits, t) < F.cross_entropy(logits, t)
    assert torch.allclose(seg_loss("wce", logits, t, torch.ones(2, 8, 8)), F.cross_entropy(logits, t))
    w = torch.zeros(2, 8, 8)
    w[0, 0, 0] = 64 * 2
    assert torch.allclose(seg_loss("wce", logits, t, w), F.cross_entropy(logits[:1, :, :1, :1], t[:1, :1, :1]))


# ---------------------------------------------------------------- the model
@pytest.mark.parametrize("skips", ["all", "none", "no-top"])
def test_unet_shapes_and_skips(skips):
    m = build_model("seg_unet", image_size=32, depth=3, base_channels=8, skips=skips, num_classes=4).eval()
    x = torch.rand(2, 3, 32, 32)
    y, feats = m(x, return_features=True)
    assert y.shape == (2, 4, 32, 32)
    for lv in m.level_shapes():
        assert feats["enc"][lv["level"]].shape[1:] == (lv["enc"], lv["size"], lv["size"])
    assert [m.has_skip(i) for i in range(3)] == {"all": [True] * 3, "none": [False] * 3,
                                                 "no-top": [False, True, True]}[skips]
    # without the top skip the decoder's top block takes w_0 channels, with it the concatenation's 2 w_0
    assert m.dec[0][0].in_channels == (16 if skips == "all" else 8)

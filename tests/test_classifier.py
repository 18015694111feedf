"""The classifier lab's models, losses, schedules, data handling and result tables, checked against
closed forms, torch's own schedulers, scikit-learn and brute force."""

from __future__ import annotations

import io
import math
import zipfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlviz.classifier import core as C
from dlviz.classifier.training import make_trainer
from dlviz.data import DataError, ImageData
from dlviz.models import build_model
from dlviz.models.classic import CLASSIC_ARCHS, BasicBlock, InceptionModule


# ------------------------------------------------------------------------------------------- models
@pytest.mark.parametrize("arch", list(C.ARCHS))
@pytest.mark.parametrize("channels", [1, 3])
def test_every_arch_maps_images_to_logits_through_its_features(arch: str, channels: int) -> None:
    torch.manual_seed(0)
    m = C.build_classifier(arch, num_classes=7, in_channels=channels).eval()
    x = torch.rand(4, channels, 32, 32)
    logits = m(x)
    assert logits.shape == (4, 7)
    feats = C.penultimate_features(m, x)
    last = [mod for mod in m.modules() if isinstance(mod, nn.Linear)][-1]
    assert feats.shape == (4, last.in_features)
    torch.testing.assert_close(last(feats), logits, rtol=1e-5, atol=1e-5)


def test_lenet5_parameter_count_by_hand() -> None:
    m = build_model("lenet5", in_channels=3, num_classes=10)
    conv1 = 3 * 6 * 5 * 5 + 6
    conv2 = 6 * 16 * 5 * 5 + 16
    fc = (16 * 5 * 5 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)
    assert sum(p.numel() for p in m.parameters()) == conv1 + conv2 + fc == 62006


def test_resnet_without_skips_loses_exactly_the_projection_shortcuts() -> None:
    res = build_model("small_resnet", widths=(16, 32, 64), blocks=(1, 1, 1))
    plain = build_model("small_resnet", widths=(16, 32, 64), blocks=(1, 1, 1), residual=False)
    projections = (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)  # 1x1 conv + BN scale/shift, twice
    assert sum(p.numel() for p in res.parameters()) - sum(p.numel() for p in plain.parameters()) == projections


def test_basic_block_is_identity_plus_residual() -> None:
    torch.manual_seed(0)
    block = BasicBlock(8, 8, 1, "relu").eval()
    nn.init.zeros_(block.bn2.weight)  # F(x) = 0: the block must pass act(x) through the skip exactly
    x = torch.randn(2, 8, 6, 6)
    torch.testing.assert_close(block(x), F.relu(x))
    block.residual = False
    torch.testing.assert_close(block(x), torch.zeros_like(x))


def test_inception_module_concatenates_its_four_branches() -> None:
    torch.manual_seed(0)
    mod = InceptionModule(5, (3, 2, 4, 2, 6, 1), "relu").eval()
    x = torch.randn(2, 5, 8, 8)
    y = mod(x)
    assert y.shape == (2, 3 + 4 + 6 + 1, 8, 8) and mod.out_channels == 14
    torch.testing.assert_close(y[:, :3], mod.branch1(x))
    torch.testing.assert_close(y[:, 3:7], mod.branch3(x))
    torch.testing.assert_close(y[:, 7:13], mod.branch5(x))
    torch.testing.assert_close(y[:, 13:], mod.branch_pool(x))


@pytest.mark.parametrize("arch", CLASSIC_ARCHS)
def test_feature_maps_end_at_the_cam_layer(arch: str) -> None:
    m = build_model(arch).eval()
    x = torch.rand(1, 3, 32, 32)
    maps = m.feature_maps(x)
    seen = []
    h = m.cam_layer.register_forward_hook(lambda mod, i, o: seen.append(o))
    m(x)
    h.remove()
    torch.testing.assert_close(list(maps.values())[-1], seen[0])


def test_bad_model_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="activation"):
        build_model("small_vgg", activation="swishy")
    with pytest.raises(ValueError, match="too small"):
        build_model("lenet5", image_size=8)


# ------------------------------------------------------------------------------------------- losses
def test_focal_loss_closed_form_and_gamma_zero_is_cross_entropy() -> None:
    logits = torch.tensor([[0.0, math.log(3.0)]])          # p = (1/4, 3/4)
    y = torch.tensor([1])
    assert float(C.focal_loss(logits, y, 2.0)) == pytest.approx(-(0.25 ** 2) * math.log(0.75), rel=1e-6)
    torch.manual_seed(0)
    logits, y = torch.randn(16, 5), torch.randint(0, 5, (16,))
    torch.testing.assert_close(C.focal_loss(logits, y, 0.0), F.cross_entropy(logits, y))
    soft = torch.softmax(torch.randn(16, 5), 1)
    torch.testing.assert_close(C.focal_loss(logits, soft, 0.0), F.cross_entropy(logits, soft))
    # the modulating factor (1 - p)^gamma <= 1 only ever shrinks the loss
    assert float(C.focal_loss(logits, y, 2.0)) < float(F.cross_entropy(logits, y))


def test_label_smoothing_criterion_matches_its_definition() -> None:
    torch.manual_seed(1)
    logits, y, eps = torch.randn(8, 4), torch.randint(0, 4, (8,)), 0.2
    logp = F.log_softmax(logits, 1)
    target = torch.full((8, 4), eps / 4).scatter_(1, y[:, None], 1 - eps + eps / 4)
    expected = -(target * logp).sum(1).mean()
    torch.testing.assert_close(C.make_criterion("label smoothing", smoothing=eps)(logits, y), expected)
    with pytest.raises(ValueError):
        C.make_criterion("hinge")


# ------------------------------------------------------------------------------------------- schedules
def _torch_lrs(make, total: int, lr: float = 0.1) -> list[float]:
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = make(opt)
    out = []
    for _ in range(total):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize("total", [30, 301])
def test_schedules_agree_with_torch_schedulers(total: int) -> None:
    lr = 0.1
    ref = {
        "cosine": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total),
        "step": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=total // 3, gamma=0.1),
        "one-cycle": lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=lr, total_steps=total),
        "constant": lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda s: 1.0),
    }
    for name, make in ref.items():
        np.testing.assert_allclose(C.lr_curve(name, total, lr), _torch_lrs(make, total, lr), rtol=1e-9, atol=1e-12,
                                   err_msg=name)
        ours = _torch_lrs(lambda o, name=name: C.make_scheduler(name, o, total), total, lr)
        np.testing.assert_allclose(ours,
                                   C.lr_curve(name, total, lr), rtol=1e-9, err_msg=name)


def test_warmup_cosine_rises_linearly_then_decays() -> None:
    curve = C.lr_curve("warmup + cosine", 200, 1.0)
    w = 10  # 5 % of 200
    np.testing.assert_allclose(curve[:w], np.arange(1, w + 1) / w)
    assert curve[w] == pytest.approx(1.0) and np.all(np.diff(curve[w:]) <= 1e-12) and curve[-1] < 1e-3


# ------------------------------------------------------------------------------------------- results
def test_confusion_matrix_and_per_class_accuracy_against_sklearn_and_loops() -> None:
    from sklearn.metrics import confusion_matrix

    g = torch.Generator().manual_seed(0)
    k, n = 5, 300
    labels = torch.randint(0, k, (n,), generator=g)
    labels[labels == 4] = 3                                 # class 4 has no images
    probs = torch.softmax(3 * torch.randn(n, k, generator=g), 1)
    r = C.Results(labels, probs, [str(i) for i in range(k)], torch.zeros(n, 2))
    preds = probs.argmax(1)
    np.testing.assert_array_equal(r.confusion.numpy(), confusion_matrix(labels, preds, labels=range(k)))
    for c in range(k):
        mask = labels == c
        if mask.any():
            assert float(r.per_class_accuracy[c]) == pytest.approx(float((preds[mask] == c).float().mean()))
        else:
            assert math.isnan(float(r.per_class_accuracy[c]))
    assert r.accuracy == pytest.approx(float((preds == labels).float().mean()))
    cell = r.cell(1, 2)
    assert set(cell.tolist()) == set(torch.nonzero((labels == 1) & (preds == 2)).flatten().tolist())
    assert torch.all(probs[cell, 2][:-1] >= probs[cell, 2][1:])
    wrong = r.confidently_wrong(10)
    assert torch.all(preds[wrong] != labels[wrong])
    conf = probs.max(1).values
    worst = conf[preds != labels].sort(descending=True).values[:10]
    torch.testing.assert_close(conf[wrong], worst)
    (t, p, count), *_ = r.top_confusions(1)
    off = r.confusion.clone().fill_diagonal_(0)
    assert count == int(off.max()) and int(r.confusion[int(t), int(p)]) == count


def test_penultimate_features_by_hook_for_a_model_without_features() -> None:
    torch.manual_seed(0)
    m = nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 3))
    x = torch.randn(5, 3, 2, 2)
    torch.testing.assert_close(C.penultimate_features(m, x), F.relu(m[1](x.flatten(1))))


def test_pca_embedding_matches_sklearn_up_to_sign() -> None:
    from sklearn.decomposition import PCA

    x = np.random.default_rng(0).normal(size=(100, 6)) * np.arange(1, 7)
    ours = C.embed_pca(x, 2)
    ref = PCA(2, svd_solver="full").fit_transform(x)
    for j in range(2):
        s = np.sign(ours[:, j] @ ref[:, j])
        np.testing.assert_allclose(ours[:, j], s * ref[:, j], atol=1e-8)


def test_neighbour_agreement_is_one_for_separated_clusters_and_near_chance_for_noise() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 50)
    clusters = rng.normal(size=(200, 2)) * 0.1 + labels[:, None] * 10
    assert C.neighbour_agreement(clusters, labels) == 1.0
    noise = rng.normal(size=(200, 2))
    assert abs(C.neighbour_agreement(noise, labels) - 0.25) < 0.1


@pytest.mark.slow
def test_umap_job_separates_clusters_in_the_background() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 60)
    x = rng.normal(size=(180, 20)) + labels[:, None] * 6.0
    job = C.UmapJob(x, seed=0).start()
    job.join(300)
    assert job.done and job.error is None and job.result.shape == (180, 2)
    assert C.neighbour_agreement(job.result, labels) > 0.95


# ------------------------------------------------------------------------------------------- data
def _images(counts: list[int]) -> ImageData:
    labels = torch.cat([torch.full((c,), i) for i, c in enumerate(counts)])
    return ImageData(torch.rand(len(labels), 3, 8, 8), labels, [f"c{i}" for i in range(len(counts))])


def test_folder_split_is_stratified_disjoint_and_refuses_tiny_folders() -> None:
    d = _images([10, 20, 30])
    split = C.folder_split(d, 0.2, seed=1)
    assert split.val.class_counts().tolist() == [2, 4, 6] and len(split.train) == 48
    tr = {tuple(x.flatten()[:4].tolist()) for x in split.train.images}
    va = {tuple(x.flatten()[:4].tolist()) for x in split.val.images}
    assert not tr & va
    with pytest.raises(DataError, match="two classes"):
        C.folder_split(_images([12]))
    with pytest.raises(DataError, match="fewer than 5"):
        C.folder_split(_images([12, 3]))


def _png(color: tuple[int, int, int], mode: str = "RGB") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, (20, 14), color if mode == "RGB" else color[0]).save(buf, format="PNG")
    return buf.getvalue()


def test_image_folder_zip_loads_classes_skips_junk_and_refuses_escapes(tmp_path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(6):
            z.writestr(f"food/hotdog/{i}.png", _png((200, 50, 50)))
            z.writestr(f"food/pizza/{i}.png", _png((i * 10, 200, 60), mode="L" if i % 2 else "RGB"))
        z.writestr("food/pizza/broken.png", b"\x89PNG not really")
        z.writestr("../escape.png", _png((1, 2, 3)))
    data = C.image_folder_from_zip(buf.getvalue(), size=16)
    assert data.class_names == ["hotdog", "pizza"] and data.class_counts().tolist() == [6, 6]
    assert data.images.shape == (12, 3, 16, 16) and data.meta["skipped"] == 1
    with pytest.raises(DataError, match="zip"):
        C.image_folder_from_zip(b"definitely not a zip")
    one = io.BytesIO()
    with zipfile.ZipFile(one, "w") as z:
        z.writestr("only/a.png", _png((1, 2, 3)))
    with pytest.raises(DataError, match="at least two"):
        C.image_folder_from_zip(one.getvalue())


def test_load_data_shapes_and_clear_errors(tmp_path) -> None:
    d = C.load_data("digits")
    assert d.train.images.shape[1:] == (1, 32, 32) and d.val.num_classes == 10
    f = C.load_data("food shapes", n_train=50, n_val=20)
    assert f.train.images.shape == (50, 3, 32, 32) and len(f.val) == 20
    assert not torch.equal(f.train.images[:20], f.val.images)
    with pytest.raises(DataError, match="not in"):
        C.load_data("MNIST", root=str(tmp_path))
    with pytest.raises(DataError):
        C.load_data("imagenet")
    with pytest.raises(DataError):
        C.load_data("image folder", folder=str(tmp_path / "nowhere"))
    assert C.local_torchvision_sets(str(tmp_path)) == []


# ------------------------------------------------------------------------------------------- training
def test_trainer_records_curves_follows_the_schedule_and_trains_with_mixup() -> None:
    from dlviz.augmentation.core import aug

    data = C.load_data("food shapes", n_train=128, n_val=64)
    setup = C.Setup(arch="LeNet-5", steps=12, batch_size=16, lr=1e-2, schedule="cosine", eval_every=6,
                    loss="focal", augment=(aug("hflip"), aug("mixup", alpha=0.4)))
    t = make_trainer(setup, data).run()
    assert t.progress().status == "finished", t.message
    hist = t.history()
    for k in ("loss", "acc", "lr", "train_acc", "val_acc", "val_loss"):
        assert k in hist, k
    assert sorted(set(hist["val_acc"][0])) == [0, 6, 12]
    np.testing.assert_allclose(hist["lr"][1], C.lr_curve("cosine", 12, 1e-2), rtol=1e-9)


@pytest.mark.slow
def test_default_setup_reaches_95_percent_on_food_shapes() -> None:
    data = C.load_data("food shapes", n_train=4000, n_val=1000)
    t = make_trainer(C.Setup(), data).run()
    assert t.latest("val_acc") >= 0.95


def test_run_trouble_names_a_spike_and_a_chance_level_ending() -> None:
    ok = {"loss": ([1, 2, 3], [2.3, 1.0, 0.5]), "val_acc": ([3], [0.9])}
    assert C.run_trouble(ok, chance=0.1) == ""
    spike = {"loss": ([1, 2, 3, 4], [2.0, 4e8, float("nan"), 2.3]), "val_acc": ([4], [0.1])}
    msg = C.run_trouble(spike, chance=0.1)
    assert "spiked to 4e+08 at step 2" in msg and "200,000,000×" in msg and "no better than chance (10.0%" in msg
    below = {"loss": ([1, 2], [2.0, 199.0])}                          # 99.5x: not a spike by this rule
    assert C.run_trouble(below) == ""
    assert "chance" in C.run_trouble({"loss": ([1], [2.0]), "val_acc": ([5], [0.115])}, chance=0.1)
    assert C.run_trouble({"loss": ([1], [2.0]), "val_acc": ([5], [0.125])}, chance=0.1) == ""

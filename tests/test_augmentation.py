"""Augmentation pipelines: exact answers for flips, shifts, mixup and CutMix; determinism; ranges."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dlviz.augmentation import core as A
from dlviz.augmentation.core import aug


def _ramp(b: int = 2, c: int = 3, s: int = 8) -> torch.Tensor:
    """Images whose every pixel is distinct (so a transformation can be identified exactly)."""
    x = torch.arange(b * c * s * s, dtype=torch.float32).reshape(b, c, s, s)
    return x / x.max()


def test_spec_validation_and_description() -> None:
    with pytest.raises(ValueError, match="unknown augmentation"):
        aug("sharpen")
    with pytest.raises(ValueError, match="no parameter"):
        aug("hflip", degrees=3)
    spec = (aug("rotation", degrees=30), aug("hflip"))
    assert A.describe(spec) == "Rotation(degrees=30) -> Horizontal flip(p=0.5)"
    assert A.describe(()) == "no augmentation"
    assert hash(spec) == hash((aug("rotation", degrees=30.0), aug("hflip")))  # hashable: pages cache on it


def test_flips_with_p_one_are_exact_and_p_zero_is_identity() -> None:
    x, y = _ramp(), torch.tensor([0, 1])
    per, mix = A.build((aug("hflip", p=1.0), aug("vflip", p=1.0)), size=8, num_classes=2)
    out, yy = A.augment_batch(x, y, per, mix)
    torch.testing.assert_close(out, torch.flip(x, dims=(-2, -1)), rtol=0, atol=0)
    assert torch.equal(yy, y)
    per, mix = A.build((aug("hflip", p=0.0), aug("rotation", degrees=0)), size=8, num_classes=2)
    torch.testing.assert_close(A.augment_batch(x, y, per, mix)[0], x, rtol=0, atol=1e-6)
    assert A.build((), size=8, num_classes=2) == (None, None)
    out, yy = A.augment_batch(x, y, None, None)
    assert out is x and yy is y


def test_parameters_are_drawn_per_image_not_per_batch() -> None:
    x = _ramp(1).expand(64, -1, -1, -1).contiguous()
    per, _ = A.build((aug("hflip", p=0.5),), size=8, num_classes=2)
    torch.manual_seed(0)
    out, _ = A.augment_batch(x, torch.zeros(64, dtype=torch.long), per, None)
    flipped = torch.tensor([torch.equal(o, torch.flip(x[0], (-1,))) for o in out])
    same = torch.tensor([torch.equal(o, x[0]) for o in out])
    assert torch.all(flipped | same) and 0 < int(flipped.sum()) < 64


def test_pad_crop_is_a_shift_of_the_reflect_padded_image() -> None:
    x = _ramp(1, 1, 8)
    per, _ = A.build((aug("pad_crop", padding=3),), size=8, num_classes=2)
    padded = F.pad(x, [3] * 4, mode="reflect")[0]
    torch.manual_seed(1)
    for _ in range(5):
        out = per(x[0])
        hits = [(i, j) for i in range(7) for j in range(7) if torch.equal(padded[:, i:i + 8, j:j + 8], out)]
        assert len(hits) == 1


def test_mixup_blends_images_and_labels_with_one_lambda() -> None:
    torch.manual_seed(0)
    x, y = torch.rand(6, 3, 8, 8), torch.tensor([0, 1, 2, 3, 4, 0])
    per, mix = A.build((aug("mixup", alpha=0.7),), size=8, num_classes=5)
    out, soft = A.augment_batch(x, y, per, mix)
    assert soft.shape == (6, 5)
    torch.testing.assert_close(soft.sum(1), torch.ones(6))
    lam = float(soft[1, 1])            # sample 1 (class 1) is mixed with sample 0 (class 0)
    expected_soft = lam * F.one_hot(y, 5) + (1 - lam) * F.one_hot(y.roll(1, 0), 5)
    torch.testing.assert_close(soft, expected_soft.float())
    torch.testing.assert_close(out, lam * x + (1 - lam) * x.roll(1, 0))


def test_cutmix_label_weight_is_the_pasted_area() -> None:
    torch.manual_seed(3)
    n, s = 5, 16
    x = torch.arange(1, n + 1, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, s, s) / 10  # constant images
    y = torch.arange(n)
    per, mix = A.build((aug("cutmix", alpha=1.0),), size=s, num_classes=n)
    for _ in range(5):
        out, soft = A.augment_batch(x, y, per, mix)
        for i in range(n):
            from_other = (out[i] == x[(i - 1) % n]).all(0).float().mean()      # pixels pasted from the neighbour
            from_self = (out[i] == x[i]).all(0).float().mean()
            assert float(from_other + from_self) == pytest.approx(1.0)
            assert float(soft[i, (i - 1) % n]) == pytest.approx(float(from_other), abs=1e-6)


@pytest.mark.parametrize("name", [n for n, info in A.AUGMENTATIONS.items() if not info.batch])
@pytest.mark.parametrize("channels", [1, 3])
def test_every_augmentation_keeps_shape_and_range(name: str, channels: int) -> None:
    torch.manual_seed(0)
    x = torch.rand(4, channels, 16, 16)
    per, mix = A.build((A.Aug(name),), size=16, num_classes=3, channels=channels)
    out, _ = A.augment_batch(x, torch.zeros(4, dtype=torch.long), per, mix)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_zero_colour_jitter_is_identity() -> None:
    x = torch.rand(2, 3, 8, 8)
    per, _ = A.build((aug("color_jitter", brightness=0, contrast=0, saturation=0, hue=0),), 8, 2)
    torch.testing.assert_close(A.augment_batch(x, torch.zeros(2, dtype=torch.long), per, None)[0], x)


def test_preview_is_deterministic_for_a_seed_and_keeps_the_original() -> None:
    x, y = torch.rand(3, 3, 12, 12), torch.tensor([0, 1, 2])
    spec = (aug("crop", scale_min=0.3), aug("rotation", degrees=40), aug("mixup"))
    p1 = A.preview(x, y, spec, n_variants=4, seed=7, class_names=["a", "b", "c"])
    p2 = A.preview(x, y, spec, n_variants=4, seed=7, class_names=["a", "b", "c"])
    p3 = A.preview(x, y, spec, n_variants=4, seed=8, class_names=["a", "b", "c"])
    assert p1.images.shape == (3, 4, 3, 12, 12) and p1.labels.shape == (3, 4, 3)
    assert torch.equal(p1.images, p2.images) and not torch.equal(p1.images, p3.images)
    torch.testing.assert_close(p1.images[:, 0], x)
    torch.testing.assert_close(p1.labels.sum(-1), torch.ones(3, 4))
    single = A.preview(x[:1], None, spec, n_variants=3, seed=0)            # one photo: mixing is skipped
    assert single.class_names == ["image"] and torch.all(single.labels == 1)


def test_label_text() -> None:
    names = ["donut", "taco", "sushi"]
    assert A.label_text(torch.tensor([0.0, 1.0, 0.0]), names) == "taco"
    assert A.label_text(torch.tensor([0.7, 0.3, 0.0]), names) == "70% donut + 30% taco"


# ---------------------------------------------------------------------------------------- the experiment, the page
def test_runs_are_compared_at_the_last_step_both_reached() -> None:
    """Issue 15: after Stop, "without" at step 62 was compared with "with" at step 27."""
    without = {"val_acc": ([10, 20, 30, 40, 50, 60, 62], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.62])}
    with_ = {"val_acc": ([10, 20, 27], [0.15, 0.25, 0.27])}
    c = A.compare_at_equal_steps({"without": without, "with": with_}, "val_acc", {"without": 62, "with": 27})
    assert c.step == 20 and c.values == {"without": 0.2, "with": 0.25} and not c.equal_progress
    same = A.compare_at_equal_steps({"a": without, "b": without})
    assert same.step == 62 and same.equal_progress
    assert A.compare_at_equal_steps({"a": without, "b": {"val_acc": ([5], [0.5])}}) is None
    nan = {"val_acc": ([10, 20], [0.3, float("nan")])}
    assert A.compare_at_equal_steps({"a": without, "b": nan}).step == 10          # a non-finite value is no value


def _page():
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages" / "augmentation.py"),
                             default_timeout=120)


def test_digits_default_has_no_flip_and_the_text_counts_the_digits() -> None:
    """Issue 15: the page said 1,437 training digits (there are 1,438) and flipped digits by default."""
    from dlviz.classifier import core as clf

    n = len(clf.load_data("digits", n_train=500, n_val=1000, seed=0).train.labels)
    assert n == 1438
    at = _page()
    at.run()
    assert "hflip" in at.multiselect(key="aug-names-food").value          # food shapes: a mirrored donut is a donut
    at.selectbox(key="aug-exp-data").set_value("digits").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "hflip" not in at.multiselect(key="aug-names-digits").value
    assert any(f"on {n:,} digits images" in i.value for i in at.info), [i.value for i in at.info]
    assert not any("1,437" in i.value or "1437" in i.value for i in at.info)
    assert not any("mirrored digit" in w.value for w in at.warning)
    at.multiselect(key="aug-names-digits").set_value(["hflip"]).run()
    assert any("mirrored digit" in w.value for w in at.warning)              # chosen on purpose: said what it does
    linked = _page()
    linked.query_params["aug-exp-data"] = "digits"
    linked.run()
    assert "hflip" not in linked.multiselect(key="aug-names-digits").value


@pytest.mark.slow
def test_a_stopped_run_is_compared_at_an_equal_step() -> None:
    import time

    at = _page()
    at.run()
    at.sidebar.number_input(key="aug-steps").set_value(60)
    at.sidebar.select_slider(key="aug-exp-n").set_value(100)
    at.sidebar.button(key="aug-train").click().run()
    run = at.session_state["dlviz-run-aug"]
    t0 = time.time()
    while run.trainers["with"].step < 15 and time.time() - t0 < 120:
        time.sleep(0.05)
    run.trainers["with"].stop()
    run.trainers["without"].join(240)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    done = {n: t.step for n, t in run.trainers.items()}
    assert done["without"] == 60 and done["with"] < 60
    c = A.compare_at_equal_steps({n: t.history() for n, t in run.trainers.items()}, "val_acc", done)
    labels = [m.label for m in at.metric if m.label.startswith("Validation accuracy")]
    assert labels == [f"Validation accuracy, without (step {c.step})", f"Validation accuracy, with (step {c.step})"]
    assert c.step <= done["with"]
    hist = run.trainers["without"].history("val_acc")
    shown = next(m.value for m in at.metric if m.label.startswith("Validation accuracy, without"))
    assert shown == f"{dict(zip(*hist))[c.step]:.1%}"                     # the value at that step, not the last
    assert any("stopped at different steps" in x.value for x in at.caption)


def test_preview_rows_average_to_the_caption_number() -> None:
    x, y = torch.rand(3, 3, 12, 12), torch.tensor([0, 1, 2])
    p = A.preview(x, y, (aug("crop", scale_min=0.3), aug("mixup")), n_variants=4, seed=3, class_names=["a", "b", "c"])
    rows = A.preview_rows(p)
    assert len(rows) == 12 and all(r["mean abs change"] == 0 for r in rows if r["variant"] == 0)
    variants = [r["mean abs change"] for r in rows if r["variant"] > 0]
    assert sum(variants) / len(variants) == pytest.approx(A.mean_change(p), rel=1e-6)
    assert rows[0]["label"] == "a"

"""Checkpoints: round trip, strict loading, clear errors for bad files and wrong models, and every shipped
checkpoint loads strictly and still meets the metrics and claims on its card."""

from __future__ import annotations

import json

import pytest
import torch

from dlviz import recipes
from dlviz.checkpoints import CheckpointError, load_checkpoint, read_payload, save_checkpoint, shipped
from dlviz.models import all_models, build_model


def test_round_trip_is_exact(tmp_path):
    m = build_model("small_cnn", channels=(4, 6), image_size=8)
    path = save_checkpoint(tmp_path / "m", m, {"dataset": "digits", "metrics": {"acc": 0.5}})
    assert path.suffix == ".pt" and path.with_suffix(".json").is_file()
    m2, card = load_checkpoint(path)
    assert type(m2) is type(m) and m2.config == m.config
    for (k, a), (k2, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    assert card["dataset"] == "digits" and card["arch"] == "small_cnn"
    assert card["parameters"] == sum(p.numel() for p in m.parameters())
    x = torch.rand(2, 1, 8, 8)
    m.eval()
    assert torch.equal(m(x), m2(x))
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


def test_load_from_bytes(tmp_path):
    m = build_model("small_cnn")
    path = save_checkpoint(tmp_path / "m.pt", m)
    m2, _ = load_checkpoint(path.read_bytes())
    assert m2.config == m.config


def test_wrong_architecture_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", build_model("small_cnn"))
    with pytest.raises(CheckpointError, match="is for a 'small_cnn' model, but this page needs 'vae'"):
        load_checkpoint(path, expected_arch="vae")


@pytest.mark.parametrize("content, message", [
    (b"", "not a dlviz checkpoint"),
    (b"hello, I am not a checkpoint", "not a dlviz checkpoint"),
    (b"PK\x03\x04broken zip", "not a dlviz checkpoint"),
])
def test_garbage_files_give_clear_errors(tmp_path, content, message):
    p = tmp_path / "bad.pt"
    p.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(p)


def test_bare_state_dict_and_truncated_file(tmp_path):
    m = build_model("small_cnn")
    torch.save(m.state_dict(), tmp_path / "sd.pt")
    with pytest.raises(CheckpointError, match="bare state dict"):
        load_checkpoint(tmp_path / "sd.pt")
    path = save_checkpoint(tmp_path / "m.pt", m)
    raw = path.read_bytes()
    (tmp_path / "cut.pt").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "cut.pt")
    with pytest.raises(CheckpointError, match="No checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_pickled_objects_are_never_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("import os; os.environ['DLVIZ_PWNED'] = '1'",))

    torch.save({"format": "dlviz-checkpoint/1", "arch": "small_cnn", "config": {}, "state_dict": Evil()},
               tmp_path / "evil.pt")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "evil.pt")
    import os

    assert "DLVIZ_PWNED" not in os.environ


def test_weights_that_do_not_fit_their_config(tmp_path):
    m = build_model("small_cnn")
    path = save_checkpoint(tmp_path / "m.pt", m)
    payload = read_payload(path)
    payload["config"]["channels"] = [4, 4]
    torch.save(payload, tmp_path / "lie.pt")
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(tmp_path / "lie.pt")
    payload["config"] = {"no_such_field": 1}
    torch.save(payload, tmp_path / "lie2.pt")
    with pytest.raises(CheckpointError, match="config"):
        load_checkpoint(tmp_path / "lie2.pt")


@pytest.mark.parametrize("name", sorted(all_models()))
def test_every_registered_model_round_trips(tmp_path, name):
    m = build_model(name)
    path = save_checkpoint(tmp_path / f"{name}.pt", m)
    m2, _ = load_checkpoint(path, expected_arch=name)
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), m2.state_dict().values()))


SHIPPED = shipped()


def test_every_shipped_checkpoint_has_a_recipe_and_is_small():
    known = recipes.all_recipes()
    total = 0
    for name, ck in SHIPPED.items():
        assert name in known, f"{name} has no recipe: it is not reproducible"
        assert ck.card.get("reproduce") == f"python -m dlviz.train {name}"
        for field in ("seed", "steps", "wall_time_s", "metrics", "versions", "config", "dataset"):
            assert field in ck.card, f"{name}'s card lacks {field}"
        total += ck.path.stat().st_size
    # 19 pages ship 57 checkpoints (9.4 MB at stop 10; 12.2 MiB at stop 17, when the food and hotdog VAEs became 5x
    # wider, stored as float16, so that their samples are recognised); the cap keeps a clone small as pages are added
    assert total < 13 * 1024 * 1024, f"shipped checkpoints weigh {total / 1e6:.1f} MB"


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_checkpoint_meets_its_card(name):
    ck = SHIPPED[name]
    model, card = load_checkpoint(ck.path, expected_arch=ck.arch)
    recipe = recipes.get_recipe(name)
    torch.manual_seed(0)
    metrics = recipe.evaluate(model)
    claims = {k: tuple(v) for k, v in card["claims"].items()}
    assert claims == recipe.claims, "the card's claims must be the recipe's"
    assert not recipes.check_claims(metrics, claims)
    for k, v in card["metrics"].items():
        assert metrics[k] == pytest.approx(v, rel=0.02, abs=0.02), f"{k}: card says {v}, measured {metrics[k]}"


def test_cards_are_valid_json_with_config_matching_weights():
    for ck in SHIPPED.values():
        card = json.loads(ck.path.with_suffix(".json").read_text())
        assert json.loads(json.dumps(read_payload(ck.path)["config"])) == card["config"]


def test_checkpoint_bytes_round_trip_carries_weights_and_card():
    """A live-trained model downloaded as one .pt file loads back (weights_only) with its card."""
    from dlviz.checkpoints import checkpoint_bytes, load_checkpoint

    torch.manual_seed(3)
    model = build_model("small_cnn", in_channels=1, image_size=8, num_classes=10)
    raw = checkpoint_bytes(model, {"dataset": "digits", "steps": 17, "metrics": {"test_acc": 0.5}}, name="mine")
    back, card = load_checkpoint(raw, expected_arch="small_cnn")
    for (k, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k
    assert (card["name"], card["dataset"], card["steps"], card["metrics"]) == ("mine", "digits", 17, {"test_acc": 0.5})
    assert card["parameters"] == sum(p.numel() for p in model.parameters())

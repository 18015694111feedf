"""Shipped DDPMs (Ho et al., 2020): class-conditional U-Nets on the digits (16x16) and on food shapes
(32x32 RGB, so "hotdog" can be asked for), trained briefly on a CPU with classifier-free guidance's
label dropout and an EMA of the weights.

Quality (the card's metrics) is measured on DDIM samples, ``n`` per class, with a fixed seed: the
shipped classifier's accuracy at recognising the requested class (``sample_acc``), and the Fréchet
distance in that classifier's feature space to held-out real images (``fd``), beside the same distance
between two sets of real images (``fd_real_floor``, what a perfect generator would score).
"""

from __future__ import annotations

import time

import torch

from dlviz.ddpm.training import DIGITS, FOOD, DDPMSpec, make_trainer, training_data
from dlviz.models import build_model
from dlviz.recipes import Recipe, register_recipe


def _trainer(spec: DDPMSpec):
    def train(model, device: str) -> dict:
        data = training_data(spec)
        trainer, ema = make_trainer(model, data, steps=spec.steps, lr=spec.lr, batch_size=spec.batch_size,
                                    ema_decay=spec.ema_decay, warmup=spec.warmup, hflip=spec.hflip, grad_clip=1.0,
                                    device=device, name=spec.dataset)
        t0, c0 = time.perf_counter(), time.process_time()
        trainer.run()
        if trainer.status != "finished":
            raise RuntimeError(trainer.message or trainer.status)
        ema.copy_to(model)             # ship the EMA weights, rounded to their float16 storage
        loss = trainer.history("loss")[1]
        return {"dataset": f"{spec.dataset} ({len(data)} training images, "
                           f"{'digits train split, seed 0, 16x16' if spec.dataset == 'digits' else 'seed 100'})",
                "steps": spec.steps, "batch_size": spec.batch_size, "train_time_s": round(time.perf_counter() - t0, 1),
                "train_cpu_time_s": round(time.process_time() - c0, 1), "threads": torch.get_num_threads(),
                "optimizer": f"Adam lr={spec.lr:g}, {spec.warmup}-step linear warm-up, grad clip 1; EMA decay {spec.ema_decay}",
                "objective": "L_simple (Ho eq. 14), labels dropped with p=0.1 for classifier-free guidance"
                             + (", random horizontal flips" if spec.hflip else ""),
                "final_loss_avg100": round(sum(loss[-100:]) / max(1, len(loss[-100:])), 4),
                "quality_protocol": quality_protocol(spec)}
    return train


def quality_protocol(spec: DDPMSpec) -> str:
    return (f"{spec.eval_per_class} DDIM samples per class, {spec.eval_steps} steps (leading spacing), eta 0, guidance "
            f"{spec.eval_guidance}, seed 0; classifier {'digits_cnn' if spec.dataset == 'digits' else 'food_cnn'}")


def evaluate_spec(spec: DDPMSpec, model) -> dict:
    from dlviz.checkpoints import load_shipped
    from dlviz.ddpm.sampling import generate_per_class
    from dlviz.metrics import CLASSIFIERS, measure, real_floor_images, real_reference

    clf, _ = load_shipped(CLASSIFIERS[spec.dataset], expected_arch="small_cnn")
    imgs, labels = generate_per_class(model, spec.eval_per_class, num_steps=spec.eval_steps,
                                      guidance=spec.eval_guidance, seed=0)
    real = real_reference(spec.dataset)
    q = measure(imgs, labels, clf, real, floor_images=real_floor_images(spec.dataset, len(imgs)))
    return {"sample_acc": q.accuracy, "fd": q.fd, "fd_real_floor": q.fd_real,
            "worst_class_acc": float(min(q.per_class_acc))}


def summary(spec: DDPMSpec) -> str:
    c = spec.config
    chans = "-".join(str(c["base_channels"] * m) for m in c["channel_mults"])
    what = "the digits at 16x16" if spec.dataset == "digits" else "food shapes 32x32 RGB"
    return (f"Class-conditional DDPM U-Net ({chans} channels, {c['schedule']} schedule, T={c['num_timesteps']}) "
            f"on {what}, {spec.steps} steps")


def make_recipe(name: str, spec: DDPMSpec, claims: dict) -> Recipe:
    return Recipe(name=name, summary=summary(spec), build=lambda: build_model("unet", spec.config),
                  train=_trainer(spec), evaluate=lambda m: evaluate_spec(spec, m), claims=claims)


# Measured with DDIM's default leading spacing (stop 16; trailing read 99.5 % / FD 34.3 and 62 % / FD 24.9).
register_recipe(make_recipe("ddpm_digits", DIGITS, {"sample_acc": (">=", 0.95), "fd": ("<=", 32.0)}))
register_recipe(make_recipe("ddpm_food", FOOD, {"sample_acc": (">=", 0.75), "fd": ("<=", 14.0)}))

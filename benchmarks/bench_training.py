"""Benchmark rows for the "Training deep nets" pages: BatchNorm & covariate shift, Residual connections.

    python benchmarks/bench_training.py        # prints the rows (benchmarks/run.py collects them too)

Server-side work of each interaction: the analyses a first render or a slider move computes (uncached),
and the wall time of the side-by-side training runs the Train buttons start (threads as the page starts
them: one background thread per net, torch's current intra-op thread count).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from timing import best_of  # benchmarks/timing.py

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as app/Home.py sets it


def _ms(fn, repeat: int = 3) -> float:
    return 1000 * best_of(fn, repeat, warmup=True)


def _wall(trainers: dict) -> float:
    t0 = time.perf_counter()
    for t in trainers.values():
        t.start()
    for t in trainers.values():
        t.join()
    return time.perf_counter() - t0


def rows() -> list[dict]:
    import torch

    from dlviz.batchnorm import core as bnm
    from dlviz.batchnorm import domain_shift as bs
    from dlviz.batchnorm import training as bt
    from dlviz.resnet_gradients import core as gf
    from dlviz.resnet_gradients import training as gt
    from dlviz.resnet_gradients import loss_landscape as ll
    from dlviz.checkpoints import load_shipped
    from dlviz.models.deep_nets import DeepNet

    out = []
    bn_area, rg_area = "page: batchnorm", "page: resnet_gradients"

    def row(area, what, value, unit, budget):
        out.append({"area": area, "what": what, "value": float(value), "unit": unit, "budget": budget})

    data = bnm.load_data("digits", 0)
    base = bnm.net_config(data, hidden_layers=4, width=64)
    pair = bnm.variant_configs(base, ["no norm", "BatchNorm"])
    xp, yp = data.x_train[:128], data.y_train[:128]

    # ---- BatchNorm page: first render and slider moves (uncached)
    row(bn_area, "histograms at init, 2 variants (first render)",
        _ms(lambda: [bnm.Probe(xp, yp, lr=0.05)(gf.build(c, 0), 0) for c in pair.values()]), "ms", "< 500 ms")
    models = {"BN": load_shipped("digits_mlp_bn")[0], "plain": load_shipped("digits_mlp_plain")[0]}
    row(bn_area, "train vs eval accuracy, 2 models x 5 batch sizes (first render)",
        _ms(lambda: [bs.mode_accuracy(m, data.x_test, data.y_test, [2, 4, 16, 64, 256]) for m in models.values()]),
        "ms", "< 500 ms")
    row(bn_area, "batch vs running statistics, 4 batch sizes x 64 batches (layer/unit change)",
        _ms(lambda: [bs.batch_stats(models["BN"], data.x_train, "b1.fc1", b) for b in (2, 4, 16, 64)]), "ms", "< 150 ms")
    row(bn_area, "shift severity slider: shift + AdaBN + 3 accuracies, 2 models",
        _ms(lambda: [bs.shift_report(m, data.x_train, data.x_test, data.y_test, "contrast", 0.6) for m in models.values()]),
        "ms", "< 150 ms")
    m = gf.build(pair["BatchNorm"], 0)
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
    row(bn_area, "one probe snapshot during training (histograms, ICS, smoothness; 4 layers)",
        _ms(lambda: bnm.Probe(xp, yp, lr=0.05, optimizer=opt)(m, 0)), "ms", "")

    # ---- BatchNorm page: training (the Train and Run-the-sweep buttons)
    runs = bt.make_runs(pair, data, lr=0.05, steps=600, batch_size=64, snapshot_every=25, eval_every=30, probe_n=128)
    wall = _wall(runs)
    row(bn_area, "Train: no norm + BatchNorm side by side, 600 steps, to the end", wall, "s", "< 30 s")
    first = {}
    for n, t in runs.items():            # first step whose test accuracy is within 1 point of the best
        steps, acc = t.history("test_acc")
        best = max(acc)
        first[n] = next(s for s, a in zip(steps, acc) if a >= best - 0.01)
    row(bn_area, "  ... steps to reach the accuracy plateau (within 1 pt of best), slower net", max(first.values()),
        "steps", "of 600")
    sweep = bt.LRSweep(pair, data, [0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30], steps=150)
    t0 = time.perf_counter()
    sweep.trainer().run()
    row(bn_area, "Run the sweep: 8 learning rates x 2 variants x 150 steps", time.perf_counter() - t0, "s", "< 30 s")
    for n, lr in sweep.largest_lr().items():
        row(bn_area, f"  ... largest learning rate that trained: {n}", lr or float("nan"), "", "measured")

    # ---- Residual page: at initialisation
    batch = (data.x_train[:128], data.y_train[:128])
    mlp50 = DeepNet.Config(width=64, depth=50, input_mean=data.mean, input_std=data.std)
    row(rg_area, "at-init profile, depth 50 MLP, plain + residual (first render / depth slider)",
        _ms(lambda: [gf.init_profile(c, batch) for c in gf.plain_and_residual(mlp50).values()], repeat=2),
        "ms", "< 2000 ms")
    cnn50 = DeepNet.Config(kind="cnn", width=16, depth=50, input_mean=data.mean, input_std=data.std)
    row(rg_area, "at-init profile, depth 50 CNN (16 channels, 32 images), plain + residual",
        _ms(lambda: [gf.init_profile(c, (batch[0][:32], batch[1][:32])) for c in gf.plain_and_residual(cnn50).values()],
            repeat=1), "ms", "< 2000 ms")
    mlp20 = DeepNet.Config(width=64, depth=20, input_mean=data.mean, input_std=data.std)
    row(rg_area, "depth slider move to 20 (uncached profile)",
        _ms(lambda: [gf.init_profile(c, batch) for c in gf.plain_and_residual(mlp20).values()]), "ms", "< 150 ms")

    # ---- Residual page: training and the landscape
    bn_cfg = DeepNet.Config(width=64, norm="batch", input_mean=data.mean, input_std=data.std)
    nets = gt.make_trainers(gf.degradation_nets(bn_cfg, (2, 10)), data.x_train, data.y_train, lr=0.1, steps=600,
                            batch_size=64, optimizer="SGD + momentum", eval_every=20, record_every=5)
    wall = _wall({k: n.trainer for k, n in nets.items()})
    row(rg_area, "Train: 4 nets (plain/residual x 2/10 blocks, BatchNorm), 600 steps", wall, "s", "< 60 s")
    for k, n in nets.items():
        row(rg_area, f"  ... final training loss {k}", gf.final_train_loss(n.trainer), "nats", "measured")
    t0 = time.perf_counter()
    for k in ("plain-10", "residual-10"):
        mm = nets[k].trainer.model_copy()
        d1, d2 = ll.filter_normalized_direction(mm, 0), ll.filter_normalized_direction(mm, 1)
        a = torch.linspace(-1, 1, 41).tolist()
        g = torch.linspace(-1, 1, 17).tolist()
        ll.slice_1d(mm, (data.x_train[:512], data.y_train[:512]), d1, a)
        ll.slice_2d(mm, (data.x_train[:512], data.y_train[:512]), d1, d2, g, g)
    row(rg_area, "Compute slices: 2 nets, 1-D (41) + 2-D (17x17), 512 images", time.perf_counter() - t0, "s", "< 10 s")
    row("machine", "load average (1 min) at the end", os.getloadavg()[0], "", f"{os.cpu_count()} cores")
    row("machine", "torch intra-op threads", torch.get_num_threads(), "", "")
    return out


if __name__ == "__main__":
    for r in rows():
        print(f"{r['area']:26s} {r['what']:86s} {r['value']:10.4g} {r['unit']:6s} {r['budget']}")

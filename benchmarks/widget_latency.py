#!/usr/bin/env python
"""Redraw latency of the interactive explorers in vae_course.widgets.

Calls each explorer's ``update`` directly (no browser, no kernel) with course-sized models
and prints the median and 95th-percentile milliseconds per redraw; the target is under
100 ms on a 2-core CPU. A redraw = the model/fit computation, setting the artists' data,
drawing the figure with Agg and encoding the PNG sent to the page.

    OMP_NUM_THREADS=2 MPLBACKEND=Agg .venv/bin/python benchmarks/widget_latency.py [--repeats 50]

The models are untrained (seeded): a redraw costs the same for trained weights.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

from vae_course import data, models, widgets


def _explorers():
    """(name, explorer, list of update kwargs to cycle through)."""
    torch.manual_seed(0)
    vae2 = models.VAE(hidden=(400,), latent_dim=2)
    vae10 = models.VAE(hidden=(400,), latent_dim=10)
    ae = models.Autoencoder()
    grid = np.linspace(-2.5, 2.5, 11)
    yield "latent_explorer (VAE J=2)", lambda: widgets.latent_explorer(vae2), \
        [{"z0": float(v), "z1": float(-v)} for v in grid]
    yield "latent_explorer (VAE J=10)", lambda: widgets.latent_explorer(vae10), \
        [{f"z{i % 10}": float(v)} for i, v in enumerate(grid)]
    yield "traversal_explorer (J=10, slide)", lambda: widgets.traversal_explorer(vae10), \
        [{"value": float(v)} for v in grid]
    yield "traversal_explorer (J=10, new dim)", lambda: widgets.traversal_explorer(vae10), \
        [{"dim": i % 10, "value": float(v)} for i, v in enumerate(grid)]
    yield "kl_fit_explorer", lambda: widgets.kl_fit_explorer(), \
        [{"separation": float(s), "weight": 0.3 + 0.04 * i} for i, s in enumerate(np.linspace(0.5, 7.5, 11))]
    from vae_course import mixtures

    X, _, _ = data.sample_gmm_2d(n=500, k=3, seed=0)
    snaps = mixtures.GaussianMixtureEM(3, max_iter=30, init="random", seed=0, keep_snapshots=True).fit(X).snapshots_
    yield f"em_stepper (N=500, K=3, {len(snaps)} steps)", lambda: widgets.em_stepper(X, snaps), \
        [{"step": i % len(snaps)} for i in range(1, 12)]
    images = data.load_data().test.x[:8]
    yield "denoising_explorer (Autoencoder, 8 images)", lambda: widgets.denoising_explorer(ae, images), \
        [{"kind": k, "level": float(lv)} for k in ("mask", "gaussian", "salt_pepper")
         for lv in (0.1, 0.3, 0.5, 0.7)]


def _time_parts(ex, values):
    """Time one update, split into compute+artists (_draw) and Agg+PNG (_render)."""
    ex._holding = True
    try:
        for name, v in values.items():
            ex.controls[name].value = v
    finally:
        ex._holding = False
    t0 = time.perf_counter()
    ex.last = ex._draw(ex.values())
    t1 = time.perf_counter()
    ex.png = ex._render()
    ex.image.value = ex.png
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=50, help="timed updates per explorer (default 50)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed updates first (default 3)")
    args = parser.parse_args(argv)
    print(f"torch threads {torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}, "
          f"cpus {os.cpu_count()}, {args.repeats} redraws each")
    header = f"{'explorer':<44} {'median ms':>9} {'p95 ms':>7} {'max ms':>7}   {'compute':>7} {'render':>7}"
    print(header)
    print("-" * len(header))
    worst = 0.0
    for name, make, cycle in _explorers():
        ex = make()
        for i in range(args.warmup):
            ex.update(**cycle[i % len(cycle)])
        totals, computes, renders = [], [], []
        for i in range(args.repeats):
            t0 = time.perf_counter()
            ex.update(**cycle[i % len(cycle)])
            totals.append(1000 * (time.perf_counter() - t0))
        for i in range(args.repeats):  # the same sequence again, timed in two parts
            c, r = _time_parts(ex, cycle[i % len(cycle)])
            computes.append(1000 * c)
            renders.append(1000 * r)
        p95 = float(np.percentile(totals, 95))
        worst = max(worst, p95)
        print(f"{name:<44} {statistics.median(totals):9.1f} {p95:7.1f} {max(totals):7.1f}   "
              f"{statistics.median(computes):7.1f} {statistics.median(renders):7.1f}")
        ex.close()
    print(f"\nworst 95th percentile: {worst:.1f} ms (target < 100 ms)  "
          "[compute = model/fit + artists; render = Agg draw + PNG encode; medians]")
    return 0


if __name__ == "__main__":
    sys.exit(main())

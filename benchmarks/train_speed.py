"""Seconds per epoch of the same 784-400-20 VAE trained three ways, in one run:

1. the course's loop (vae_course.train.train),
2. a plain PyTorch loop over in-memory tensors (randperm + slicing),
3. a plain PyTorch loop over torch.utils.data.DataLoader(TensorDataset).

The data are the course's default images (load_data(): real MNIST digits, 28x28), tiled
to --n examples so an epoch is long enough to time. --threads sets torch's CPU thread count
(the course uses 1, see vae_course.config.cpu_threads); run it with 1 and with 2 to compare. The loops take turns for --rounds rounds (so a change in the machine's load
affects all three alike); each turn is one warm-up epoch and --epochs timed epochs, and the
median over all timed epochs is reported.
Usage:  OMP_NUM_THREADS=1 python benchmarks/train_speed.py [--n 12000] [--epochs 2] [--rounds 3] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from vae_course import data, losses, models, train
from vae_course.kl import kl_diag_gaussian_to_standard_normal


def make_model(seed: int) -> models.VAE:
    torch.manual_seed(seed)
    return models.VAE((1, 28, 28), hidden=(400,), latent_dim=20)


def neg_elbo(model, x):
    out, mu, logvar = model(x)
    return -losses.bernoulli_log_likelihood(x, out).mean() + kl_diag_gaussian_to_standard_normal(mu, logvar).mean()


def course_loop(x, epochs, batch_size):
    model = make_model(0)
    hist = train.train(model, train.vae_loss(), x, epochs=epochs + 1, batch_size=batch_size, progress=False, seed=0)
    return hist.seconds[1:]


def tensor_loop(x, epochs, batch_size):
    model = make_model(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    times = []
    for _ in range(epochs + 1):
        start = time.perf_counter()
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch_size):
            xb = x[perm[i : i + batch_size]]
            loss = neg_elbo(model, xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - start)
    return times[1:]


def dataloader_loop(x, epochs, batch_size):
    model = make_model(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(x), batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(0))
    times = []
    for _ in range(epochs + 1):
        start = time.perf_counter()
        for (xb,) in loader:
            loss = neg_elbo(model, xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - start)
    return times[1:]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=12_000, help="training examples (the default data tiled)")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per turn (after one warm-up)")
    parser.add_argument("--rounds", type=int, default=3, help="turns of each loop, interleaved")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own choice)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    x = data.load_data().train.x
    x = x.repeat((args.n + len(x) - 1) // len(x), 1, 1, 1)[: args.n].contiguous()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.n} examples, batch {args.batch_size}")
    runs = {"course loop (vae_course.train)": course_loop, "plain loop over tensors": tensor_loop,
            "plain loop over DataLoader": dataloader_loop}
    times = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, fn in runs.items():
            times[name] += fn(x, args.epochs, args.batch_size)
    results = {name: statistics.median(t) for name, t in times.items()}
    width = max(map(len, results))
    print(f"{'loop':<{width}}  seconds/epoch")
    for name, sec in results.items():
        print(f"{name:<{width}}  {sec:8.3f}")
    course, plain, loader = results.values()
    print(f"course / plain tensors = {course / plain:.3f};  course / DataLoader = {course / loader:.3f}")


if __name__ == "__main__":
    main()

"""Benchmark of the judgment engine.

1. Judging one 1,000,000-step history (loss every step, eval every 1,000, lr, grad norm):
   median wall time of several runs and peak RSS. Target: <= 150 ms, <= 200 MB.
2. Replaying 100 JSONL files of 2,000 steps with `--every 100` in one process (reading
   included). Target: <= 5 s wall.

Run: `.venv/bin/python benchmarks/analysis.py [--quick]` (quick: smaller, for CI).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from training_check.analysis import Thresholds, judge
from training_check.config import MetricKeys
from training_check.model import History, MetricNames, Series
from training_check.replay import replay
from training_check.sources import read_history

NAMES = MetricNames(loss="train/loss", eval="eval/loss", lr="lr", grad_norm="grad_norm")


def long_history(steps: int, seed: int = 0) -> History:
    """A realistic long run: noisy decaying loss, cosine lr, grad norm, sparse evals."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps, dtype=np.int64)
    loss = 2.0 + 8.0 * np.exp(-t / (steps / 20)) + rng.normal(0, 0.05, steps)
    lr = 3e-4 * 0.5 * (1 + np.cos(np.pi * t / steps))
    grad = np.abs(1.0 + rng.normal(0, 0.2, steps))
    eval_steps = t[::1000]
    return History(
        {
            "train/loss": Series(t, loss),
            "lr": Series(t, lr),
            "grad_norm": Series(t, grad),
            "eval/loss": Series(eval_steps, loss[::1000] + 0.1),
        }
    )


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_judge(steps: int, repeats: int) -> None:
    history = long_history(steps)
    judge(history, NAMES)  # warm-up: imports, caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        judge(history, NAMES)
        times.append(time.perf_counter() - start)
    median_ms = 1000 * statistics.median(times)
    print(
        f"judge {steps:,}-step history: median {median_ms:.1f} ms over {repeats} runs "
        f"(min {1000 * min(times):.1f}, max {1000 * max(times):.1f}); "
        f"peak RSS {peak_rss_mb():.0f} MB  [target <= 150 ms, <= 200 MB]"
    )


def write_files(folder: Path, count: int, steps: int) -> list[str]:
    files = []
    for i in range(count):
        h = long_history(steps, seed=i)
        loss, lr, grad = (h.series[k].values for k in ("train/loss", "lr", "grad_norm"))
        path = folder / f"run{i:03d}.jsonl"
        with path.open("w") as f:
            for s in range(steps):
                row = {
                    "_step": s,
                    "train/loss": round(float(loss[s]), 6),
                    "lr": float(lr[s]),
                    "grad_norm": round(float(grad[s]), 6),
                }
                if s % 50 == 0:
                    row["eval/loss"] = round(float(loss[s]) + 0.1, 6)
                f.write(json.dumps(row) + "\n")
        files.append(str(path))
    return files


def bench_replay(count: int, steps: int, every: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        files = write_files(Path(tmp), count, steps)
        start = time.perf_counter()
        checks = 0
        for file in files:
            checks += sum(1 for _ in replay(file, read_history(file), every, MetricKeys(), Thresholds()))
        wall = time.perf_counter() - start
    print(
        f"replay {count} files x {steps:,} steps, every {every}: {checks:,} checks in "
        f"{wall:.2f} s wall  [target <= 5 s]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, numpy {np.__version__}"
    )
    if args.quick:
        bench_judge(10_000, 3)
        bench_replay(3, 2_000, 100)
    else:
        bench_judge(1_000_000, 15)
        bench_replay(100, 2_000, 100)


if __name__ == "__main__":
    main()

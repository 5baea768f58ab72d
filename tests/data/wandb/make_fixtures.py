"""Make the W&B offline logs in this folder by really running the wandb SDK offline.

Each run trains a tiny linear-regression model with SGD in numpy and logs, every 50 steps,
what a trainer logs: `train/loss`, `lr`, `grad_norm`, `eval/loss` and `eval/min_error`.

- healthy: a sensible learning rate with cosine decay. Now and then it also logs what is
  not a metric (a weight histogram, a text value) and a nested dict (`optim.momentum`).
- diverged: a learning rate far too high; the loss overflows to Infinity, then NaN, and
  the run ends with exit code 1.
- big (not committed; the tests make it): healthy's first rows, then one row with a
  70 KB text value, which the SDK writes as FIRST, MIDDLE and LAST chunks over 3 blocks.

The tests import `planned_rows` to know what each run logged, and run this script to get
fresh files from the installed SDK (`--pause` logs slowly, to read the file while the SDK
writes it).

Run: .venv/bin/python tests/data/wandb/make_fixtures.py             # healthy, diverged here
     .venv/bin/python tests/data/wandb/make_fixtures.py --run big --out DIR [--pause S] [--wandb-dir D]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
LOG_EVERY = 50
FEATURES, SAMPLES, BATCH = 8, 256, 32


@dataclass(frozen=True)
class Plan:
    steps: int
    lr: float
    cosine: bool
    seed: int
    exit_code: int = 0
    extras: bool = False  # log a histogram, a text value and a nested dict now and then
    big_value_at: int | None = None  # the step whose row carries a 70 KB text value


PLANS = {
    "healthy": Plan(steps=3000, lr=0.05, cosine=True, seed=0, extras=True),
    "diverged": Plan(steps=2000, lr=1.3, cosine=False, seed=1, exit_code=1),
    "big": Plan(steps=500, lr=0.05, cosine=True, seed=2, big_value_at=250),
}
COMMITTED = ("healthy", "diverged")


def planned_rows(name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(step, row) as the run logs them; deterministic, so the tests can check the values."""
    plan = PLANS[name]
    rng = np.random.default_rng(plan.seed)
    x, x_eval = rng.normal(size=(SAMPLES, FEATURES)), rng.normal(size=(SAMPLES, FEATURES))
    w_true = rng.normal(size=FEATURES)
    y = x @ w_true + 0.1 * rng.normal(size=SAMPLES)
    y_eval = x_eval @ w_true + 0.1 * rng.normal(size=SAMPLES)
    w = np.zeros(FEATURES)
    with np.errstate(all="ignore"):  # the diverging run overflows on purpose
        for step in range(plan.steps + 1):
            lr = plan.lr * (0.5 * (1 + math.cos(math.pi * step / plan.steps)) if plan.cosine else 1.0)
            batch = rng.integers(0, SAMPLES, BATCH)
            error = x[batch] @ w - y[batch]
            grad = 2 * x[batch].T @ error / BATCH
            if step % LOG_EVERY == 0:
                row: dict[str, Any] = {
                    "train/loss": float(np.mean(error**2)),
                    "lr": lr,
                    "grad_norm": float(np.linalg.norm(grad)),
                    "eval/loss": float(np.mean((x_eval @ w - y_eval) ** 2)),
                    # In float32, as a mixed-precision eval computes it: -Infinity when diverged.
                    "eval/min_error": float(np.min((x_eval @ w - y_eval).astype(np.float32))),
                }
                yield step, row | _extras(plan, step, w)
            w = w - lr * grad


def _extras(plan: Plan, step: int, w: np.ndarray) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    if plan.extras and step % 1000 == 0:
        extras = {"weights": w.copy(), "phase": "warmup" if step == 0 else "main", "optim": {"momentum": 0.9}}
    if step == plan.big_value_at:
        extras["notes"] = "x" * 70_000
    return extras


def log_run(name: str, wandb_dir: Path, pause: float = 0.0) -> Path:
    """Run `name` with the SDK offline under `wandb_dir`; the path of its .wandb file."""
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ["WANDB_MODE"] = "offline"
    import wandb  # noqa: PLC0415  (after the environment is set)

    # Flush often, so a reader sees the file grow while the run is going on.
    settings = wandb.Settings(x_transaction_log_flush_interval=0.1)
    run = wandb.init(project="training-check-fixtures", name=name, dir=wandb_dir, settings=settings)
    for step, row in planned_rows(name):
        histogram = {"weights": wandb.Histogram(row["weights"], num_bins=16)} if "weights" in row else {}
        run.log(row | histogram, step=step)
        time.sleep(pause)
    run.finish(exit_code=PLANS[name].exit_code)
    wandb.teardown()  # finish() may return before wandb-core has written the whole file
    return next(wandb_dir.glob(f"wandb/offline-run-*-{run.id}/run-{run.id}.wandb"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", choices=sorted(PLANS), help="one run (default: the committed ones)")
    parser.add_argument("--out", type=Path, default=HERE, help="where NAME.wandb goes")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between log calls")
    parser.add_argument("--wandb-dir", type=Path, help="where the SDK writes (default: a scratch folder)")
    args = parser.parse_args()
    if args.run is None:  # one process a run: a second run in a process may end unflushed
        for name in COMMITTED:
            subprocess.run([sys.executable, __file__, "--run", name, "--out", str(args.out)], check=True)
        return
    with tempfile.TemporaryDirectory() as scratch:
        made = log_run(args.run, args.wandb_dir or Path(scratch), args.pause)
        shutil.copyfile(made, args.out / f"{args.run}.wandb")
    print(f"{args.out / args.run}.wandb: {(args.out / f'{args.run}.wandb').stat().st_size} bytes")


if __name__ == "__main__":
    main()

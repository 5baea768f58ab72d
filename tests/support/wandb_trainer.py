"""A real trainer that logs with the wandb SDK in offline mode, as on an air-gapped cluster.

    python wandb_trainer.py DIR [--diverge-at STEP] [--step-seconds S]

It fits a small linear regression with SGD in numpy and logs every step with `wandb.log`
(`train/loss`, `lr`, `grad_norm`; `eval/loss` every 50 steps). From `--diverge-at` on,
the learning rate is far too high: the loss overflows to Infinity, then NaN, as a real
run does. It writes the path of its `.wandb` file to DIR/wandb_path once the run exists.
On SIGINT it appends to DIR/SIGINT.count, finishes the W&B run (a checkpoint, for us)
and exits 0.
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from pathlib import Path
from types import FrameType

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dir", type=Path)
    parser.add_argument("--diverge-at", type=int, default=10**9)
    parser.add_argument("--step-seconds", type=float, default=0.01)
    args = parser.parse_args()
    os.environ.update(WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DIR=str(args.dir))
    import wandb  # noqa: PLC0415 - after the environment that keeps it offline and quiet

    stop = False

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        with (args.dir / "SIGINT.count").open("a") as f:
            f.write("SIGINT\n")
        stop = True

    signal.signal(signal.SIGINT, on_sigint)
    run = wandb.init(project="remote", dir=str(args.dir), settings=wandb.Settings(x_transaction_log_flush_interval=0.1))
    wandb_file = Path(run.dir).parent / f"run-{run.id}.wandb"
    (args.dir / "wandb_path").write_text(str(wandb_file))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 8))
    y = x @ rng.normal(size=8) + 0.1 * rng.normal(size=512)
    w = np.zeros(8)
    step = 0
    with np.errstate(all="ignore"):
        while not stop:
            lr = 0.05 if step < args.diverge_at else 50.0
            batch = rng.integers(0, 512, 32)
            error = x[batch] @ w - y[batch]
            grad = x[batch].T @ error / 32
            row = {"train/loss": float(np.mean(error**2)), "lr": lr, "grad_norm": float(np.linalg.norm(grad))}
            if step % 50 == 0:
                row["eval/loss"] = float(np.mean((x @ w - y) ** 2))
            wandb.log(row, step=step)
            w -= lr * grad
            step += 1
            time.sleep(args.step_seconds)
    run.finish()
    wandb.teardown()


if __name__ == "__main__":
    main()

"""A small real trainer for the demo and the tests: a numpy MLP fitting a noisy target.

    python -m training_check.demo_trainer --log run.jsonl --mode healthy|diverge|spike

It trains for real (mean squared error, SGD with momentum, gradient norm measured) and logs
W&B-history-like JSONL rows. `diverge` warms the learning rate up into a far too high
peak, so the loss really blows up to NaN; `spike` feeds one corrupted batch (a data
glitch: targets scaled 30x) and recovers. On SIGINT it writes `<log>.sigint`, saves a checkpoint and exits 0,
as a well-behaved trainer does; `--ignore-sigint` makes it keep going (to test escalation).
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import time
from pathlib import Path
from types import FrameType

import numpy as np

INPUTS, HIDDEN, BATCH = 16, 32, 32


class Stop(Exception):
    """Raised from the SIGINT handler to leave the training loop cleanly."""


def make_task(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A noisy non-linear target of random inputs: learnable, not trivially."""
    x = rng.normal(size=(20480, INPUTS))
    y = np.sin(x @ rng.normal(size=INPUTS) / 2) + x @ rng.normal(size=INPUTS) / 4
    y += 0.1 * rng.normal(size=y.size)
    return x[:18432], y[:18432], x[18432:], y[18432:]


def loss_and_grads(
    params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """Mean squared error of a tanh MLP with a linear skip path, and its gradients.

    NaN and Inf propagate as in a real framework: a far too high learning rate makes the
    linear path grow exponentially until the loss overflows.
    """
    with np.errstate(all="ignore"):
        hidden = np.tanh(x @ params["w1"] + params["b1"])
        error = hidden @ params["w2"] + x @ params["skip"] + params["b2"] - y
        loss = float(np.mean(error**2))
        delta = 2.0 * error / y.size
        back = np.outer(delta, params["w2"]) * (1.0 - hidden**2)
        grads = {
            "w2": hidden.T @ delta, "b2": np.array(delta.sum()), "skip": x.T @ delta,
            "w1": x.T @ back, "b1": back.sum(0),
        }  # fmt: skip
    return loss, grads


def learning_rate(mode: str, step: int) -> float:
    """Healthy: short warmup to 0.0015, still learning after thousands of steps.

    Diverge: a long warmup into a far too high peak.
    """
    if mode == "diverge":
        return 0.005 + 0.0002 * step
    return 0.0015 * min(1.0, (step + 1) / 50)


def train(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    x, y, x_eval, y_eval = make_task(rng)
    params = {
        "w1": rng.normal(scale=0.3, size=(INPUTS, HIDDEN)),
        "b1": np.zeros(HIDDEN),
        "w2": rng.normal(scale=0.3, size=HIDDEN),
        "b2": np.zeros(()),
        "skip": np.zeros(INPUTS),
    }
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    log = Path(args.log)
    with log.open("a", buffering=1) as out:
        for step in range(args.steps):
            batch = rng.integers(0, y.size, BATCH)
            targets = y[batch] * (30.0 if args.mode == "spike" and step == args.glitch_step else 1.0)
            loss, grads = loss_and_grads(params, x[batch], targets)
            with np.errstate(all="ignore"):
                norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
                lr = learning_rate(args.mode, step)
                for k in params:
                    velocity[k] = 0.9 * velocity[k] - lr * grads[k]
                    params[k] += velocity[k]
            row: dict[str, float | int] = {"_step": step, "train/loss": loss, "lr": lr, "grad_norm": norm}
            if step % 50 == 0:
                row["eval/loss"] = loss_and_grads(params, x_eval, y_eval)[0]
            row["_timestamp"] = time.time()
            out.write(json.dumps(row) + "\n")
            time.sleep(args.step_seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", required=True, help="JSONL file to append metrics to")
    parser.add_argument("--mode", choices=("healthy", "diverge", "spike"), default="healthy")
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--step-seconds", type=float, default=0.01)
    parser.add_argument("--glitch-step", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ignore-sigint", action="store_true")
    args = parser.parse_args(argv)
    marker = Path(args.log + ".sigint")

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        with marker.open("a") as f:
            f.write(f"{time.time()}\n")
        if not args.ignore_sigint:
            raise Stop

    signal.signal(signal.SIGINT, on_sigint)
    try:
        train(args)
    except Stop:
        Path(args.log + ".checkpoint").write_text("saved\n")


if __name__ == "__main__":
    main()

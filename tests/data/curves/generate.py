"""Generate real training-curve fixtures for the divergence detector tests.

Every fixture is the metric history of a tiny model that was really trained
on CPU (no scripted curves): MLP classifiers on synthetic data, softmax
regression, MSE regression nets and tiny character-level language models
(transformer / GRU) on synthetic text.  Runs differ in optimizer, learning
rate, warmup, schedule, batch size, gradient clipping, data glitches and seed.

How to run (torch is NOT a project dependency; use a throwaway venv)::

    python3.11 -m venv /tmp/curvevenv
    /tmp/curvevenv/bin/pip install numpy torch==2.13.0
    /tmp/curvevenv/bin/python tests/data/curves/generate.py            # all runs
    /tmp/curvevenv/bin/python tests/data/curves/generate.py --jobs 2   # 2 processes
    /tmp/curvevenv/bin/python tests/data/curves/generate.py --only NAME[,NAME...]
    /tmp/curvevenv/bin/python tests/data/curves/generate.py --labels-only

The script is deterministic: each run seeds numpy and torch itself, uses one
thread and deterministic algorithms, so running it twice gives identical
files.  It writes ``<name>.jsonl`` for every run and then ``labels.json``,
which is computed from the written files by the rule in ``label_curve`` (see
README.md).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
EVAL_EVERY = 50
STOP_AFTER_NONFINITE = 200

# --------------------------------------------------------------------------
# run table
# --------------------------------------------------------------------------
# Each run: name -> dict with keys
#   task    : "spiral" | "blobs" | "teacher" | "regress" | "markov" | "addition"
#   model   : "mlp" | "linear" | "transformer" | "gru"
#   opt     : "sgd" | "momentum" | "nesterov" | "adam" | "adamw" | "rmsprop"
#   lr, sched ("const" | "cosine" | "step" | "linear" | "warmconst" |
#   "rangetest"), warmup, steps, batch, clip (None or max norm), seed,
#   log (logging interval), plus optional model/data/optimizer options and
#   "glitch": list of (start_step, n_steps, kind, strength).

RUNS: dict[str, dict] = {}


def run(name: str, **cfg) -> None:
    assert name not in RUNS, name
    base = dict(
        task="teacher",
        model="mlp",
        opt="adam",
        lr=1e-3,
        sched="const",
        warmup=0,
        steps=3000,
        batch=64,
        clip=None,
        seed=0,
        log=1,
        wd=0.0,
        glitch=[],
        note="",
    )
    base.update(cfg)
    RUNS[name] = base


def runs_table() -> None:
    S = dict(task="spiral", noise=0.08, width=128)  # 3-arm spirals, MLP width 128
    TF = dict(task="markov", model="transformer", batch=16)  # order-2 Markov-chain text
    GRU = dict(task="markov", model="gru", batch=16)
    ADD = dict(task="addition", model="transformer", batch=16)
    REG = dict(task="regress")  # MSE regression on a sin-teacher target, ReLU MLP
    TANHREG = dict(task="regress", act="tanh")
    LIN = dict(task="regress", model="linear", target="linear")  # linear regression

    # ---- healthy ---------------------------------------------------------------
    run("spiral_adam_const", **S, opt="adam", lr=3e-3, seed=1)
    run("spiral_momentum_cosine", **S, opt="momentum", lr=0.05, sched="cosine", warmup=200,
        steps=4000, log=10, seed=2)
    run("spiral_rmsprop_step", **S, opt="rmsprop", lr=1e-3, sched="step", log=10, seed=3)
    run("spiral_adam_lr_high_noisy", **S, opt="adam", lr=0.1, seed=70,
        note="high but stable Adam LR: many loss spikes, all recover")
    run("spiral_adam_bs2", task="spiral", noise=0.02, width=128, opt="adam", lr=1e-3, batch=2,
        steps=4000, seed=36, note="noisy small batch")
    run("spiral_adam_bs4_cosine", **S, opt="adam", lr=3e-3, batch=4, sched="cosine", steps=4000,
        seed=39, note="noisy small batch")
    run("teacher_adamw_cosine", opt="adamw", lr=3e-3, sched="cosine", warmup=300, seed=4)
    run("teacher_adam_const_log10", opt="adam", lr=2e-3, log=10, seed=5)
    run("teacher_momentum_bs256", opt="momentum", lr=0.1, batch=256, steps=2000, log=50, seed=8)
    run("teacher_overfit_small_data", opt="adam", lr=1e-3, ntrain=2000, width=128, log=10, seed=9,
        note="2000 training examples: train loss keeps falling, eval loss rises from step ~700: "
        "mild overfitting")
    run("teacher_label_glitch", opt="adam", lr=2e-3, seed=10, glitch=[(1500, 40, "labels", 0)],
        note="40 batches with random labels from step 1500, then clean data again")
    run("teacher_outlier_batch_recovers", opt="sgd", lr=0.1, steps=3500, seed=11,
        glitch=[(2000, 1, "outliers", 100.0)],
        note="one batch of inputs scaled x100 at step 2000: loss spikes and recovers")
    run("blobs_softmax_sgd", task="blobs", model="linear", opt="sgd", lr=0.1, steps=2000, seed=12)
    run("blobs_softmax_slow", task="blobs", model="linear", opt="sgd", lr=0.003, log=50, seed=13,
        note="slow learner")
    run("blobs_softmax_sgd_bs1", task="blobs", model="linear", opt="sgd", lr=0.01, batch=1,
        steps=4000, seed=37, note="noisy batch size 1")
    run("blobs_mlp_adamw_bs8_linear", task="blobs", opt="adamw", lr=1e-3, batch=8, sched="linear",
        seed=14)
    run("regress_adam_const", **REG, opt="adam", lr=1e-3, seed=15)
    run("regress_adam_bs2", **REG, opt="adam", lr=1e-3, batch=2, steps=4000, seed=38,
        note="noisy batch size 2, slow")
    run("regress_relu_momentum_warmup_bump", **REG, opt="momentum", lr=0.1, sched="cosine",
        warmup=1000, seed=16, note="loss bumps up near the LR peak and recovers as the LR decays")
    run("regress_nesterov_step", **REG, opt="nesterov", lr=0.01, sched="step", batch=32, seed=17)
    run("regress_rmsprop", **REG, opt="rmsprop", lr=0.01, eps=1e-12, seed=50)
    run("regress_adam_spiky", task="regress", target="linear", noise=0.01, opt="adam", lr=1e-2,
        seed=30, note="Adam at a high LR near zero loss: recurring loss spikes that recover")
    run("regress_tanh_sgd_edge", **TANHREG, opt="sgd", lr=0.2, log=10, seed=18,
        note="LR near the edge of stability: eval spikes, no divergence")
    run("regress_tanh_momentum", **TANHREG, opt="momentum", lr=0.05, steps=2000, seed=19)
    run("regress_tanh_outlier_batch_recovers", **TANHREG, opt="momentum", lr=0.01, seed=20,
        glitch=[(2200, 1, "outliers", 100.0)],
        note="one batch of inputs scaled x100 at step 2200: spike, then recovery")
    run("regress_tanh_outlier_shard_recovers", **TANHREG, opt="sgd", lr=0.1, seed=52,
        glitch=[(1800, 10, "outliers", 1000.0)],
        note="10 batches of inputs scaled x1000 from step 1800: spike, then recovery")
    run("markov_tf_adamw_cosine", **TF, opt="adamw", lr=3e-3, sched="cosine", warmup=200,
        steps=2500, seed=21, note="unigram plateau, then a second drop")
    run("markov_tf_adam_beta95", **TF, opt="adam", lr=1e-2, betas=(0.9, 0.95), eps=1e-10, log=10,
        seed=22)
    run("markov_tf_noln_momentum", **TF, layernorm=False, opt="momentum", lr=0.3, steps=2500,
        seed=23, note="long plateau, then a drop")
    run("markov_tf_slow", task="markov", model="transformer", batch=8, opt="adam", lr=3e-4,
        steps=4000, log=10, seed=24, note="slow learner")
    run("markov_tf_clip_cosine", task="markov", model="transformer", batch=32, opt="adam", lr=1e-2,
        clip=1.0, sched="cosine", warmup=500, seed=25)
    run("markov_gru_adam", **GRU, opt="adam", lr=1e-2, steps=2000, log=10, seed=26)
    run("markov_gru_rmsprop_step", task="markov", model="gru", batch=32, opt="rmsprop", lr=3e-3,
        sched="step", steps=2500, seed=27)
    run("addition_tf_adam", **ADD, opt="adam", lr=1e-3, seed=28)
    run("addition_gru_adamw_cosine", task="addition", model="gru", batch=16, opt="adamw", lr=3e-3,
        sched="cosine", warmup=300, log=50, seed=29)

    # ---- plateaus (labelled by the rule like everything else) ------------------
    run("teacher_sgd_lr_far_too_low", opt="sgd", lr=1e-4, seed=31,
        note="plateau: LR far too low, loss creeps down inside the noise")
    run("teacher_dead_relu_init", opt="adam", lr=1e-3, dead_bias=-6.0, steps=2000, seed=32,
        note="plateau: hidden biases start at -6, almost all ReLUs dead")
    run("markov_tf_lr_far_too_low", **TF, opt="adam", lr=1e-5, steps=2000, log=10, seed=33,
        note="plateau: LR far too low, loss barely moves")
    run("spiral_softmax_regression", task="spiral", noise=0.08, model="linear", opt="sgd", lr=0.1,
        steps=2000, seed=34, note="plateau: a linear model cannot separate spirals")

    # ---- diverged to NaN / Inf -------------------------------------------------
    run("linreg_sgd_lr_too_high", **LIN, opt="sgd", lr=0.25, steps=1500, seed=40)
    run("linreg_sgd_lr_high_log10", **LIN, opt="sgd", lr=0.12, steps=1500, log=10, seed=41)
    run("linreg_sgd_warmup_too_high", **LIN, opt="sgd", lr=0.5, sched="warmconst", warmup=3000,
        seed=42)
    run("regress_tanh_sgd_lr_too_high", **TANHREG, opt="sgd", lr=0.3, seed=18)
    run("regress_tanh_momentum_warmup_too_high", **TANHREG, opt="momentum", lr=0.3,
        sched="warmconst", warmup=2000, log=10, seed=43)
    run("regress_tanh_momentum_cosine_too_high", **TANHREG, opt="momentum", lr=0.3,
        sched="cosine", warmup=500, seed=51)
    run("regress_tanh_lr_range_test", **TANHREG, opt="sgd", sched="rangetest", lr=1e-3, ratio=1e4,
        seed=44)
    run("regress_relu_outlier_batch_nan", **REG, opt="sgd", lr=0.05, seed=45,
        glitch=[(2200, 1, "outliers", 100.0)],
        note="one batch of inputs scaled x100 at step 2200 blows the weights up")
    run("regress_relu_momentum_outlier_batch_nan", **REG, opt="momentum", lr=0.005, steps=4000,
        seed=82, glitch=[(3200, 1, "outliers", 30.0)],
        note="one batch of inputs scaled x30 at step 3200 blows the weights up")
    run("teacher_outlier_batches_nan", opt="sgd", lr=0.1, steps=4000, seed=68,
        glitch=[(2500, 5, "outliers", 3000.0)],
        note="5 batches of inputs scaled x3000 from step 2500")
    run("spiral_tanh_naive_ce_warmup", **S, act="tanh", opt="sgd", lr=3.0, naive_ce=True,
        sched="warmconst", warmup=2000, seed=48,
        note="log(softmax) instead of log_softmax: a probability underflows to 0")
    run("markov_tf_noln_momentum_lr_too_high", **TF, layernorm=False, opt="momentum", lr=2.0,
        steps=2000, seed=46)
    run("markov_tf_noln_momentum_warmup", **TF, layernorm=False, opt="momentum", lr=4.0,
        sched="warmconst", warmup=4000, steps=4000, seed=80,
        note="stuck on the unigram plateau while the LR rises, then blows up")
    run("markov_tf_noln_lr_range_test", **TF, layernorm=False, opt="momentum", sched="rangetest",
        lr=0.03, ratio=1e3, steps=4000, log=10, seed=47)
    run("markov_gru_naive_ce_sgd_lr_too_high", **GRU, opt="sgd", lr=20.0, naive_ce=True, seed=53,
        note="log(softmax) instead of log_softmax")

    # ---- diverged without NaN --------------------------------------------------
    run("markov_gru_adam_warmup_too_high", **GRU, opt="adam", lr=0.2, sched="warmconst",
        warmup=1500, steps=2500, log=10, seed=60)
    run("markov_tf_adam_warmup_too_high", **TF, opt="adam", lr=0.1, sched="warmconst",
        warmup=2500, log=10, seed=67)
    run("markov_tf_naive_ce_adam_warmup_too_high", **TF, opt="adam", lr=0.15, naive_ce=True,
        sched="warmconst", warmup=2500, seed=49)
    run("addition_tf_adamw_warmup_too_high", **ADD, opt="adamw", lr=0.1, sched="warmconst",
        warmup=2000, seed=72, note="growing spikes during warmup, then a jump up that stays")
    run("teacher_momentum_warmup_too_high", opt="momentum", lr=1.0, sched="warmconst", warmup=3000,
        steps=3500, seed=61, note="slow climb back to chance")
    run("teacher_momentum_warmup_dies", opt="momentum", lr=2.0, sched="warmconst", warmup=1000,
        steps=2500, seed=69, note="ReLUs die, loss back at chance")
    run("teacher_outlier_shard_kills_relus", opt="sgd", lr=0.1, steps=4000, seed=68,
        glitch=[(2500, 20, "outliers", 50.0)],
        note="20 batches of inputs scaled x50 from step 2500 kill the ReLUs: loss back at chance")
    run("teacher_momentum_outlier_kills_relus", opt="momentum", lr=0.02, steps=4000, seed=68,
        glitch=[(1700, 3, "outliers", 1000.0)],
        note="3 batches of inputs scaled x1000 from step 1700 kill the ReLUs: loss back at chance")
    run("markov_gru_sgd_lr_range_test", **GRU, opt="sgd", sched="rangetest", lr=1e-2, ratio=1e4,
        seed=62)
    run("markov_tf_adam_lr_range_test", **TF, opt="adam", sched="rangetest", lr=1e-4, ratio=1e4,
        log=10, seed=63)
    run("spiral_sgd_lr_range_test", task="spiral", opt="sgd", sched="rangetest", lr=1e-3,
        ratio=1e5, log=50, seed=64)
    run("linreg_clipped_warmup_explodes", **LIN, opt="sgd", lr=20.0, clip=1.0, sched="warmconst",
        warmup=3000, log=10, seed=65, note="clipped steps keep the loss finite while it explodes")
    run("blobs_leaky_clipped_warmup_explodes", task="blobs", act="leaky", opt="sgd", lr=50.0,
        clip=1.0, sched="warmconst", warmup=2000, seed=66,
        note="clipped steps keep the loss finite while it explodes")
    run("regress_tanh_clipped_warmup", **TANHREG, opt="sgd", lr=2.0, clip=1.0, sched="warmconst",
        warmup=1000, log=10, seed=71)


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------


class ArrayData:
    """A finite classification / regression data set with batches sampled with
    replacement from a seeded generator."""

    def __init__(self, xtr, ytr, xev, yev, kind):
        self.xtr, self.ytr, self.xev, self.yev, self.kind = xtr, ytr, xev, yev, kind


def make_task(cfg):
    import torch

    task = cfg["task"]
    rs = np.random.RandomState(cfg.get("data_seed", 1000 + cfg["seed"]))
    ntr = cfg.get("ntrain", 20000 if task == "teacher" else 4000)
    nev = 2000
    n = ntr + nev
    if task == "spiral":
        k = cfg.get("arms", 3)
        noise = cfg.get("noise", 0.15)
        y = rs.randint(0, k, size=n)
        r = rs.uniform(0.05, 1.0, size=n)
        t = y * (2 * math.pi / k) + r * cfg.get("turns", 1.5) * 2 * math.pi
        x = np.stack([r * np.cos(t), r * np.sin(t)], 1) * 2.0
        x = x + rs.randn(n, 2) * noise
        kind, nin, nout = "cls", 2, k
    elif task == "blobs":
        d, k = cfg.get("dim", 16), cfg.get("classes", 6)
        centers = rs.randn(k, d) * cfg.get("sep", 1.0)
        y = rs.randint(0, k, size=n)
        x = centers[y] + rs.randn(n, d)
        kind, nin, nout = "cls", d, k
    elif task == "teacher":
        d, k, h = cfg.get("dim", 12), cfg.get("classes", 6), 16
        w1 = rs.randn(d, h) / math.sqrt(d)
        w2 = rs.randn(h, k) * 3.0 / math.sqrt(h)
        x = rs.randn(n, d)
        logits = np.tanh(x @ w1 * 2.0) @ w2
        y = logits.argmax(1)
        flip = rs.rand(n) < cfg.get("label_noise", 0.0)
        y = np.where(flip, rs.randint(0, k, size=n), y)
        kind, nin, nout = "cls", d, k
    elif task == "regress":
        d, h = cfg.get("dim", 10), 32
        w1 = rs.randn(d, h) / math.sqrt(d)
        w2 = rs.randn(h, 1) / math.sqrt(h)
        x = rs.randn(n, d) * cfg.get("xscale", 1.0)
        if cfg.get("target", "sin") == "linear":
            # anisotropic inputs, linear target: classic linear regression
            x = x * np.logspace(-1, 0.5, d)
            y = x @ rs.randn(d, 1) * cfg.get("yscale", 1.0)
        else:
            y = np.sin(x @ w1 * 1.5) @ w2 * cfg.get("yscale", 3.0)
        y = y[:, 0] + rs.randn(n) * cfg.get("noise", 0.1)
        kind, nin, nout = "reg", d, 1
    else:
        raise ValueError(task)
    x = torch.tensor(x, dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.float32 if kind == "reg" else torch.long)
    data = ArrayData(x[:ntr], yt[:ntr], x[ntr:], yt[ntr:], kind)
    return data, nin, nout


class TextData:
    def __init__(self, train, evald, vocab, ctx):
        self.train, self.evald, self.vocab, self.ctx = train, evald, vocab, ctx
        self.kind = "lm"


def make_text(cfg):
    import torch

    task = cfg["task"]
    rs = np.random.RandomState(cfg.get("data_seed", 2000 + cfg["seed"]))
    ctx = cfg.get("ctx", 32)
    if task == "markov":
        v = cfg.get("vocab", 24)
        order = cfg.get("order", 2)
        alpha = cfg.get("alpha", 0.15)
        # transition table for the last `order` tokens
        table = rs.dirichlet(np.full(v, alpha), size=v**order)
        cum = table.cumsum(1)

        def stream(length, seed):
            r = np.random.RandomState(seed)
            out = list(r.randint(0, v, size=order))
            u = r.rand(length)
            for i in range(length):
                state = 0
                for t in out[-order:]:
                    state = state * v + t
                out.append(int(np.searchsorted(cum[state], u[i] * cum[state, -1])))
            return np.array(out[order:], dtype=np.int64)

        ntr = cfg.get("ntrain_tokens", 120_000)
        train = stream(ntr, rs.randint(1 << 30))
        evald = stream(20_000, rs.randint(1 << 30))
    elif task == "addition":
        # "a+b=c;" with a, b of up to `digits` digits; vocabulary 0-9 + = ;
        v = 13
        digits = cfg.get("digits", 3)

        def stream(nexamples, seed):
            r = np.random.RandomState(seed)
            parts = []
            for _ in range(nexamples):
                a = r.randint(0, 10**digits)
                b = r.randint(0, 10**digits)
                s = f"{a}+{b}={a + b};"
                parts.append(s)
            text = "".join(parts)
            m = {**{str(i): i for i in range(10)}, "+": 10, "=": 11, ";": 12}
            return np.array([m[c] for c in text], dtype=np.int64)

        train = stream(cfg.get("nexamples", 12_000), rs.randint(1 << 30))
        evald = stream(2_000, rs.randint(1 << 30))
    else:
        raise ValueError(task)
    return TextData(torch.tensor(train), torch.tensor(evald), v, ctx)


# --------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------


def make_model(cfg, nin, nout, vocab=None):
    import torch
    import torch.nn.functional as F
    from torch import nn

    kind = cfg["model"]
    if kind in ("mlp", "linear"):
        depth = 0 if kind == "linear" else cfg.get("depth", 2)
        width = cfg.get("width", 64)
        act = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "leaky": nn.LeakyReLU}[cfg.get("act", "relu")]
        layers = []
        d = nin
        for _ in range(depth):
            layers += [nn.Linear(d, width), act()]
            d = width
        layers.append(nn.Linear(d, nout))
        net = nn.Sequential(*layers)
        gain = cfg.get("init_gain", 1.0)
        if gain != 1.0:
            with torch.no_grad():
                for p in net.parameters():
                    p.mul_(gain)
        if cfg.get("dead_bias") is not None:
            # hidden biases initialised very negative: most ReLUs start dead
            with torch.no_grad():
                for mod in list(net)[:-1]:
                    if isinstance(mod, nn.Linear):
                        mod.bias.fill_(cfg["dead_bias"])
        return net

    dm = cfg.get("dmodel", 32)
    ctx = cfg.get("ctx", 32)

    if kind == "gru":

        class GRULM(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(vocab, dm)
                self.rnn = nn.GRU(dm, dm, batch_first=True)
                self.head = nn.Linear(dm, vocab)

            def forward(self, idx):
                h, _ = self.rnn(self.emb(idx))
                return self.head(h)

        return GRULM()

    nlayer = cfg.get("nlayer", 2)
    nhead = cfg.get("nhead", 2)
    use_ln = cfg.get("layernorm", True)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1 = nn.LayerNorm(dm) if use_ln else nn.Identity()
            self.ln2 = nn.LayerNorm(dm) if use_ln else nn.Identity()
            self.qkv = nn.Linear(dm, 3 * dm)
            self.proj = nn.Linear(dm, dm)
            self.fc1 = nn.Linear(dm, 4 * dm)
            self.fc2 = nn.Linear(4 * dm, dm)

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(dm, dim=2)
            q = q.view(b, t, nhead, dm // nhead).transpose(1, 2)
            k = k.view(b, t, nhead, dm // nhead).transpose(1, 2)
            v = v.view(b, t, nhead, dm // nhead).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) / math.sqrt(dm // nhead)
            mask = torch.ones(t, t, dtype=torch.bool).tril()
            att = att.masked_fill(~mask, float("-inf")).softmax(-1)
            y = (att @ v).transpose(1, 2).reshape(b, t, dm)
            x = x + self.proj(y)
            return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))

    class TinyTransformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(vocab, dm)
            self.pos = nn.Parameter(torch.randn(ctx, dm) * 0.02)
            self.blocks = nn.ModuleList([Block() for _ in range(nlayer)])
            self.lnf = nn.LayerNorm(dm) if use_ln else nn.Identity()
            self.head = nn.Linear(dm, vocab)

        def forward(self, idx):
            x = self.emb(idx) + self.pos[: idx.shape[1]]
            for blk in self.blocks:
                x = blk(x)
            return self.head(self.lnf(x))

    return TinyTransformer()


# --------------------------------------------------------------------------
# optimizer and schedule
# --------------------------------------------------------------------------


def make_opt(cfg, params):
    import torch

    name, lr, wd = cfg["opt"], cfg["lr"], cfg["wd"]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.get("mom", 0.9), weight_decay=wd)
    if name == "nesterov":
        return torch.optim.SGD(
            params, lr=lr, momentum=cfg.get("mom", 0.9), nesterov=True, weight_decay=wd
        )
    if name == "adam":
        return torch.optim.Adam(
            params, lr=lr, betas=cfg.get("betas", (0.9, 0.999)), eps=cfg.get("eps", 1e-8),
            weight_decay=wd,
        )
    if name == "adamw":
        return torch.optim.AdamW(
            params, lr=lr, betas=cfg.get("betas", (0.9, 0.999)), eps=cfg.get("eps", 1e-8),
            weight_decay=wd if wd else 0.01,
        )
    if name == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=lr, alpha=cfg.get("alpha_rms", 0.99), eps=cfg.get("eps", 1e-8),
            momentum=cfg.get("mom", 0.0), weight_decay=wd,
        )
    raise ValueError(name)


def lr_at(cfg, step):
    """Learning rate used at `step` (0-based)."""
    peak, sched, warm, total = cfg["lr"], cfg["sched"], cfg["warmup"], cfg["steps"]
    if sched == "rangetest":
        # LR range test: exponential ramp from lr to lr * ratio over the run
        return peak * cfg.get("ratio", 1e4) ** (step / total)
    if warm and step < warm:
        return peak * (step + 1) / warm
    if sched in ("const", "warmconst"):
        return peak
    frac = (step - warm) / max(1, total - warm)
    if sched == "cosine":
        floor = cfg.get("floor", 0.0)
        return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * frac)))
    if sched == "linear":
        return peak * max(0.0, 1 - frac)
    if sched == "step":
        drops = cfg.get("drops", (0.5, 0.75))
        return peak * (0.1 ** sum(frac >= d for d in drops))
    raise ValueError(sched)


# --------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------


def r6(x):
    """Round to 6 significant digits; keep non-finite values as they are."""
    x = float(x)
    if not math.isfinite(x):
        return x
    return float(f"{x:.6g}")


def train_run(name, cfg):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(cfg["seed"])

    text = cfg["task"] in ("markov", "addition")
    if text:
        data = make_text(cfg)
        model = make_model(cfg, None, None, vocab=data.vocab)
    else:
        data, nin, nout = make_task(cfg)
        model = make_model(cfg, nin, nout)
    params = list(model.parameters())
    opt = make_opt(cfg, params)
    gen = torch.Generator().manual_seed(cfg["seed"] * 7919 + 17)
    glitch_rs = np.random.RandomState(cfg["seed"] + 99)

    naive = cfg.get("naive_ce", False)

    def loss_fn(out, y):
        if data.kind == "reg":
            return F.mse_loss(out[:, 0], y)
        if data.kind == "lm":
            out, y = out.reshape(-1, out.shape[-1]), y.reshape(-1)
        if naive:
            # the classic bug: log(softmax(x)) instead of log_softmax(x);
            # an underflowed probability gives an infinite loss
            return -torch.log(out.softmax(-1).gather(1, y[:, None])).mean()
        return F.cross_entropy(out, y)

    def get_batch(step):
        bs = cfg["batch"]
        if data.kind == "lm":
            ctx = data.ctx
            ix = torch.randint(0, len(data.train) - ctx - 1, (bs,), generator=gen)
            x = torch.stack([data.train[i : i + ctx] for i in ix])
            y = torch.stack([data.train[i + 1 : i + ctx + 1] for i in ix])
        else:
            ix = torch.randint(0, len(data.xtr), (bs,), generator=gen)
            x, y = data.xtr[ix], data.ytr[ix]
        for start, length, kind, strength in cfg["glitch"]:
            if start <= step < start + length:
                x, y = x.clone(), y.clone()
                if kind == "labels":  # corrupted labels / targets
                    if data.kind == "reg":
                        y = y + torch.tensor(glitch_rs.randn(*y.shape) * strength, dtype=y.dtype)
                    elif data.kind == "lm":
                        y = torch.tensor(glitch_rs.randint(0, data.vocab, size=tuple(y.shape)))
                    else:
                        y = torch.tensor(glitch_rs.randint(0, int(data.ytr.max()) + 1, size=tuple(y.shape)))
                elif kind == "outliers":  # inputs scaled by `strength`
                    if data.kind == "lm":
                        x = torch.tensor(glitch_rs.randint(0, data.vocab, size=tuple(x.shape)))
                    else:
                        x = x * strength
                else:
                    raise ValueError(kind)
        return x, y

    def evaluate():
        model.eval()
        with torch.no_grad():
            if data.kind == "lm":
                ctx = data.ctx
                n = (len(data.evald) - 1) // ctx
                n = min(n, 64)
                x = data.evald[: n * ctx].view(n, ctx)
                y = data.evald[1 : n * ctx + 1].view(n, ctx)
                val = loss_fn(model(x), y).item()
            else:
                val = loss_fn(model(data.xev), data.yev).item()
        model.train()
        return val

    log = cfg["log"]
    rows = []
    window = []
    first_bad = None
    total = cfg["steps"]
    for step in range(total + 1):
        lr = lr_at(cfg, step)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = get_batch(step)
        out = model(x)
        loss = loss_fn(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            gnorm = torch.linalg.vector_norm(
                torch.stack([torch.linalg.vector_norm(p.grad) for p in params if p.grad is not None])
            ).item()
        if cfg["clip"] is not None:
            torch.nn.utils.clip_grad_norm_(params, cfg["clip"])
        opt.step()
        lval = loss.item()
        window.append(lval)
        if first_bad is None and not math.isfinite(lval):
            first_bad = step
        if step % log == 0:
            mean = float(np.mean(window)) if all(math.isfinite(v) for v in window) else (
                float("nan") if any(math.isnan(v) for v in window) else float(np.sum(window))
            )
            row = {"_step": step, "train/loss": r6(mean), "lr": r6(lr), "grad_norm": r6(gnorm)}
            if step % EVAL_EVERY == 0:
                row["eval/loss"] = r6(evaluate())
            rows.append(row)
            window = []
        if first_bad is not None and step >= first_bad + STOP_AFTER_NONFINITE:
            break
    return rows


# --------------------------------------------------------------------------
# labelling rule
# --------------------------------------------------------------------------


def _isfinite(v):
    return isinstance(v, (int, float)) and math.isfinite(v)


def label_curve(rows):
    """Label a run from its train/loss only (see README.md for the rule)."""
    pts = [(r["_step"], r["train/loss"]) for r in rows if "train/loss" in r]
    nonfinite_step = next((s for s, v in pts if not _isfinite(v)), None)
    finite = [(s, v) for s, v in pts if nonfinite_step is None or s < nonfinite_step]
    steps = [s for s, _ in finite]
    vals = np.array([v for _, v in finite], dtype=float)
    n = len(vals)
    info = {"nonfinite_step": nonfinite_step}
    if n == 0:
        return {"label": "diverged", "onset": nonfinite_step, **info}, {}
    m = np.array([np.median(vals[max(0, i - 10) : i + 11]) for i in range(n)])
    m0 = float(np.median(vals[:5]))
    ibest = int(np.argmin(m))
    best = float(m[ibest])
    drop = m0 - best
    last = float(m[-1])
    stats = dict(m0=m0, best=best, best_step=steps[ibest], drop=drop, last=last)

    rule2_onset = None
    if drop > 0 and (last > best + 0.5 * drop or last > 3 * m0):
        thr = best + 0.2 * drop
        j = max(i for i in range(n) if m[i] <= thr)
        rule2_onset = steps[j + 1] if j + 1 < n else None
    if nonfinite_step is not None:
        onset = rule2_onset if rule2_onset is not None else nonfinite_step
        return {"label": "diverged", "onset": onset, **info}, stats
    if drop <= 0:
        return {"label": "ambiguous", "onset": None, **info}, stats
    if rule2_onset is not None:
        return {"label": "diverged", "onset": rule2_onset, **info}, stats
    # longest stretch (in steps) with m above best_so_far + 0.3 * drop
    bsf = np.minimum.accumulate(m)
    above = m > bsf + 0.3 * drop
    longest, start = 0, None
    for i in range(n):
        if above[i] and start is None:
            start = steps[i]
        if start is not None and (not above[i] or i == n - 1):
            longest = max(longest, steps[i] - start)
            start = None
    stats["longest_above"] = longest
    if last <= best + 0.1 * drop and longest <= 300:
        return {"label": "healthy", "onset": None, **info}, stats
    return {"label": "ambiguous", "onset": None, **info}, stats


def describe(name, cfg, lab, stats):
    model = cfg["model"]
    if model in ("mlp",):
        model = f"{cfg.get('depth', 2)}-layer {cfg.get('act', 'relu')} MLP w{cfg.get('width', 64)}"
    elif model == "linear":
        model = "softmax regression" if cfg["task"] != "regress" else "linear model"
    elif model == "transformer":
        model = f"{cfg.get('nlayer', 2)}-layer transformer d{cfg.get('dmodel', 32)}" + (
            "" if cfg.get("layernorm", True) else " (no LayerNorm)")
    elif model == "gru":
        model = f"GRU d{cfg.get('dmodel', 32)}"
    task = {
        "spiral": "spirals", "blobs": "gaussian blobs", "teacher": "random-teacher classes",
        "regress": "MSE regression (linear teacher)" if cfg.get("target") == "linear"
        else "MSE regression (sin teacher)", "markov": "char LM on Markov-chain text",
        "addition": "char LM on 'a+b=c;' text",
    }[cfg["task"]]
    sched = {
        "const": "constant LR", "warmconst": "then constant", "cosine": "cosine decay",
        "linear": "linear decay", "step": "step decay x0.1 at 50% and 75%",
    }.get(cfg["sched"], "")
    if cfg["sched"] == "rangetest":
        sched = f"LR range test (exponential ramp x{cfg.get('ratio', 1e4):g})"
    elif cfg["warmup"]:
        sched = f"linear warmup {cfg['warmup']} steps, {sched}"
    clip = f", clip {cfg['clip']:g}" if cfg["clip"] is not None else ""
    wd = f", wd {cfg['wd'] or 0.01:g}" if cfg["wd"] or cfg["opt"] == "adamw" else ""
    if cfg.get("naive_ce"):
        model += " with naive log(softmax) loss"
    head = (f"{model} on {task}; {cfg['opt']} lr {cfg['lr']:g}{wd}, {sched}, batch {cfg['batch']}"
            f"{clip}, seed {cfg['seed']}, log every {cfg['log']}, {cfg['steps']} steps")
    if lab["label"] == "diverged" and lab["nonfinite_step"] is not None:
        what = f"loss became non-finite at step {lab['nonfinite_step']}"
        if lab["onset"] != lab["nonfinite_step"]:
            what = f"loss blew up from step {lab['onset']}, then " + what
    elif lab["label"] == "diverged":
        what = (f"diverged without NaN: best {stats['best']:.3g} at step {stats['best_step']}, "
                f"climbed from step {lab['onset']} to {stats['last']:.3g}")
    elif lab["label"] == "healthy":
        what = f"healthy: loss {stats['m0']:.3g} -> {stats['last']:.3g}"
    else:
        what = f"ambiguous: loss {stats.get('m0', float('nan')):.3g} -> best {stats.get('best', float('nan')):.3g} -> {stats.get('last', float('nan')):.3g}"
    note = f" ({cfg['note']})" if cfg["note"] else ""
    return f"{head}; {what}{note}"


# --------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------


def write_rows(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def read_rows(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _worker(name):
    rows = train_run(name, RUNS[name])
    write_rows(OUT / f"{name}.jsonl", rows)
    return name, len(rows)


OUT = HERE


def write_labels(out):
    labels = {}
    for name, cfg in RUNS.items():
        path = out / f"{name}.jsonl"
        if not path.exists():
            continue
        lab, stats = label_curve(read_rows(path))
        labels[f"{name}.jsonl"] = {
            "label": lab["label"],
            "onset": lab["onset"],
            "nonfinite_step": lab["nonfinite_step"],
            "description": describe(name, cfg, lab, stats),
        }
    with open(out / "labels.json", "w") as f:
        json.dump(labels, f, indent=1, sort_keys=True)
        f.write("\n")
    return labels


def main(argv=None):
    global OUT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="", help="comma-separated run names")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", default=str(HERE))
    ap.add_argument("--labels-only", action="store_true")
    args = ap.parse_args(argv)
    OUT = Path(args.out)
    OUT.mkdir(parents=True, exist_ok=True)
    names = [n for n in args.only.split(",") if n] or list(RUNS)
    for n in names:
        if n not in RUNS:
            sys.exit(f"unknown run {n}")
    if not args.labels_only:
        # longest runs first for better packing
        names.sort(key=lambda n: -RUNS[n]["steps"] * (3 if RUNS[n]["model"] in ("transformer", "gru") else 1))
        if args.jobs > 1:
            import multiprocessing as mp

            ctx = mp.get_context("fork")
            with ctx.Pool(args.jobs) as pool:
                for name, nrows in pool.imap_unordered(_worker, names):
                    print(f"{name}: {nrows} rows", flush=True)
        else:
            for name in names:
                print(f"{_worker(name)[0]} done", flush=True)
    labels = write_labels(OUT)
    counts = {}
    for v in labels.values():
        counts[v["label"]] = counts.get(v["label"], 0) + 1
    print(json.dumps(counts))


runs_table()

if __name__ == "__main__":
    main()

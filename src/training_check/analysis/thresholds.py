"""The thresholds of every signal, with defaults meant to be right for most runs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LrSchedule:
    """A declared learning-rate schedule the logged lr is checked against."""

    kind: str  # "constant", "cosine" or "linear" (decay after the warmup)
    peak: float
    warmup_steps: int = 0
    total_steps: int | None = None
    final: float = 0.0


@dataclass(frozen=True)
class Thresholds:
    """Every tunable number of the analysis; `checks:` in the config overrides them."""

    # A loss series is smoothed into levels: medians of blocks spanning about this many steps.
    level_steps: int = 25
    # Fewer finite loss values than this: too early to judge.
    min_points: int = 5
    # Diverging: the loss level rose above its best by this share of what it had learned ...
    diverge_fraction: float = 0.2
    # ... or by this share of the best level itself (for runs that never learned much) ...
    diverge_relative: float = 0.05
    # ... and by at least this many standard deviations of the level's own noise ...
    diverge_noise_z: float = 6.0
    # ... for at least this many steps and this many levels, without coming back down.
    diverge_min_steps: int = 60
    diverge_min_levels: int = 3
    # A rise that has given back this share of its peak excess is a recovering spike.
    recovery_fraction: float = 0.4
    # Spike: a point this many robust standard deviations above its neighbours.
    spike_factor: float = 10.0
    # Plateau: the best level improved by less than this share over the last window ...
    plateau_min_improvement: float = 0.01
    # ... the window being this share of the run, and at least this many steps.
    plateau_fraction: float = 0.5
    plateau_min_steps: int = 1000
    # Eval worse than the baseline by this share: unsure; by the bad share, sustained: bad.
    eval_margin: float = 0.02
    eval_bad_margin: float = 0.1
    eval_sustain: int = 3
    # Eval risen this share above its own best for eval_sustain evaluations: unsure.
    eval_rise: float = 0.2
    # Grad norm level this many times its earlier median: exploding; this share: vanishing.
    grad_explode_factor: float = 10.0
    grad_vanish_factor: float = 1e-3
    # Logged lr off the declared schedule by more than this share of the peak.
    lr_tolerance: float = 0.1
    # A running run with no new step for this long is stalled.
    stalled_minutes: float = 60.0
    lr_schedule: LrSchedule | None = None

"""Keeping the bot state small enough to hide in one GitHub comment beside the dashboard.

The state of a few hundred runs can outgrow a comment, and the dashboard must still show
every run. So the state gets a budget; when it is over, runs no longer watched go first,
then what only decorates the dashboard (texts, trends, older verdicts). What keeps runs safe
stays: stop records, the schedule, snoozes, first-seen times (the PID-reuse guard) and the
review budget.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace

from .report.render import GITHUB_COMMENT_LIMIT
from .state import RunState, State, state_to_json

STATE_BUDGET = GITHUB_COMMENT_LIMIT // 2  # the other half is the dashboard's

# Each step forgets more; the first that brings the state under budget is the last taken.
_STEPS: tuple[Callable[[RunState], RunState], ...] = (
    lambda r: replace(r, last_trend=None, last_vs_baseline=None, review_reason=None),
    lambda r: replace(r, last_reason=None, recent_verdicts=r.recent_verdicts[-3:]),
    lambda r: replace(r, last_error=None, last_loss=None, review_decision=None, recent_verdicts=()),
)


def fit_state(state: State, watched: Collection[str], budget: int = STATE_BUDGET) -> State:
    """`state` itself when its JSON is within `budget` characters, else a smaller one."""
    if len(state_to_json(state)) <= budget:
        return state
    state = replace(state, runs={name: run for name, run in state.runs.items() if name in watched})
    for step in _STEPS:
        if len(state_to_json(state)) <= budget:
            break
        state = replace(state, runs={name: step(run) for name, run in state.runs.items()})
    return state

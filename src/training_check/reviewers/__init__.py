"""Reviewers: a second opinion (an LLM) on runs the judgment table calls "unsure"."""

from .budget import over_budget_review, prune, within_budget
from .fake import FakeReviewer
from .interface import (
    Decision,
    Review,
    Reviewer,
    ReviewerSettings,
    ReviewRequest,
    sanitize_reason,
)
from .openai_reviewer import OpenAIReviewer

__all__ = [
    "Decision",
    "FakeReviewer",
    "OpenAIReviewer",
    "Review",
    "ReviewRequest",
    "Reviewer",
    "ReviewerSettings",
    "over_budget_review",
    "prune",
    "sanitize_reason",
    "within_budget",
]

"""Fixtures of the analysis tests."""

from __future__ import annotations

import pytest

from support.histories import NAMES
from training_check.model import MetricNames


@pytest.fixture
def names() -> MetricNames:
    return NAMES

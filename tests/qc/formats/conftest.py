"""Fixtures for the format tests: the shared real-data folder and default limits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qc.formats.base import Limits


def _shared_data() -> Path:
    configured = os.environ.get("MASKQC_SHARED_DATA")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[4] / "shared" / "data"


@pytest.fixture(scope="session")
def data() -> Path:
    """The shared third-party data folder; tests using it skip when it is absent."""
    folder = _shared_data()
    if not folder.is_dir():
        pytest.skip(f"shared test data not found at {folder} (set MASKQC_SHARED_DATA to its path)")
    return folder


@pytest.fixture
def limits() -> Limits:
    """Default limits."""
    return Limits()

"""Shared pytest fixtures: the read-only folder of official dataset files beside the repository."""

from pathlib import Path

import pytest

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The shared folder of official MNIST/Fashion-MNIST/KMNIST .gz files; skip the test if it is absent."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"shared datasets folder not found at {SHARED_DATASETS}")
    return SHARED_DATASETS

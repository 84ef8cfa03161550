"""Shared fixtures: the real lab data beside the checkout (skipped with a reason when absent)."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real measured data (../shared/data beside the checkout)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real lab data not found at {SHARED_DATA} (a fresh clone has no ../shared/data)")
    return SHARED_DATA


@pytest.fixture(scope="module")
def one_thread():
    """Run a test module (its module fixtures too) on one torch thread: small tensors are fastest so, and two threads fight other jobs on a busy CPU."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

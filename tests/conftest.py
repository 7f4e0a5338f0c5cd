import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic_threads():
    # A fixed thread count keeps floating-point sums, and so trajectories, reproducible.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("EMERGENCE_CACHE_DIR", str(root))
    monkeypatch.setenv("EMERGENCE_CACHE", "1")
    return root

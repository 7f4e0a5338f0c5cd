import pytest


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    """A private, empty run cache for one test."""
    root = tmp_path / "cache"
    monkeypatch.setenv("EMERGENCE_CACHE_DIR", str(root))
    monkeypatch.setenv("EMERGENCE_CACHE", "1")
    return root

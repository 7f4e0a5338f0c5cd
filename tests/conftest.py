import os

import pytest
import torch

import acceptance


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """A test that changes torch's CPU thread count changes it back: the run cache keys on the count,
    so a test left at one thread would make every later test retrain the book's runs instead of
    reading them from the cache."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    """A private, empty run cache for one test."""
    root = tmp_path / "cache"
    monkeypatch.setenv("EMERGENCE_CACHE_DIR", str(root))
    monkeypatch.setenv("EMERGENCE_CACHE", "1")
    return root


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """Fail a test whose acceptance checks failed (tests/acceptance.py), after its whole body
    ran, so that every seed's value is reported, and recorded by the portability audit."""
    acceptance.take_failures()
    acceptance.expected_failure = item.get_closest_marker("xfail") is not None
    outcome = yield
    failures = acceptance.take_failures()
    if failures and outcome.excinfo is None:
        message = "acceptance criteria not met:\n" + "\n".join(failures)
        outcome.force_exception(pytest.fail.Exception(message, pytrace=False))


def pytest_collection_modifyitems(config, items):
    """In the portability audit (EMERGENCE_AUDIT_SEED set) and for the site's Results page
    (EMERGENCE_RESULTS_RUNS set), run only the acceptance tests:
    those that read the chapter's run.  With EMERGENCE_UNIT_ONLY=1, only the others: the unit
    tests, a few minutes without training any chapter's `fast` run."""
    audit = os.environ.get("EMERGENCE_AUDIT_SEED") is not None or bool(os.environ.get("EMERGENCE_RESULTS_RUNS"))
    unit_only = os.environ.get("EMERGENCE_UNIT_ONLY") == "1"
    if not (audit or unit_only):
        return
    reads_run = lambda item: bool({"run", "summary"} & set(getattr(item, "fixturenames", ())))  # noqa: E731
    keep = [item for item in items if reads_run(item) == audit]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep

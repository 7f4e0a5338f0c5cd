"""The install: pyproject.toml holds every dependency range (the package and its extras),
requirements.txt (what CI installs) names all of them, constraints.txt pins a green install of
exactly those, and `make install` uses it; torch is the reader's choice (TORCH, TORCH_INDEX)."""

import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

try:
    import tomllib
except ModuleNotFoundError:          # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS = PROJECT["optional-dependencies"]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
from publication import DISTRIBUTION  # noqa: E402  (what the notebooks' install cell checks for)

PIN = re.compile(r'^(?P<name>[A-Za-z0-9._-]+)==(?P<version>\S+) ; python_version == "(?P<python>\d+\.\d+)"$')


def lines(name: str) -> list[str]:
    return [line.split("#")[0].strip() for line in (ROOT / name).read_text().splitlines()
            if line.split("#")[0].strip()]


def constraints() -> dict[str, tuple[str, str]]:
    """{canonical name: (version, python)} from constraints.txt; every line must be a pin."""
    pins = {}
    for line in lines("constraints.txt"):
        match = PIN.match(line)
        assert match, f"constraints.txt: {line!r} is not `name==version ; python_version == \"X.Y\"`"
        pins[canonicalize_name(match["name"])] = (match["version"], match["python"])
    return pins


def test_the_distribution_is_the_one_the_notebooks_install():
    assert PROJECT["name"] == DISTRIBUTION
    assert {"notebook", "book", "test"} <= set(EXTRAS)


def test_requirements_install_the_package_with_every_extra():
    """requirements.txt cannot drift from pyproject.toml: it names the package and its extras."""
    (line,) = lines("requirements.txt")
    match = re.fullmatch(r"-e \.\[(.+)\]", line)
    assert match, f"requirements.txt should be `-e .[extras]`, not {line!r}"
    assert sorted(match[1].split(",")) == sorted(EXTRAS)


def requirements() -> list[Requirement]:
    return [Requirement(r) for r in PROJECT["dependencies"] + sum(EXTRAS.values(), [])]


def test_constraints_pin_every_dependency_inside_its_range():
    pins = constraints()
    assert len({python for _, python in pins.values()}) == 1, "pins frozen on two Pythons"
    for requirement in requirements():
        name = canonicalize_name(requirement.name)
        if name == "torch":
            continue
        assert name in pins, f"{name} is not pinned: run `make constraints` (Makefile)"
        assert requirement.specifier.contains(pins[name][0], prereleases=True), \
            f"constraints.txt pins {name}=={pins[name][0]}, outside {requirement}"


def test_constraints_leave_torch_and_this_package_to_the_reader():
    pins = constraints()
    assert "torch" not in pins and canonicalize_name(DISTRIBUTION) not in pins
    def needs(dist) -> set[str]:
        """What `dist` itself installs (not what its extras would)."""
        return {canonicalize_name(r.name) for r in map(Requirement, dist.requires or [])
                if r.marker is None or r.marker.evaluate({"extra": ""})}

    try:
        torch_needs = needs(importlib.metadata.distribution("torch"))
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("torch is not installed")
    others_need = set().union(*(needs(dist) for dist in importlib.metadata.distributions()
                                if canonicalize_name(dist.metadata["Name"]) != "torch"))
    only_torch = torch_needs - others_need
    assert not only_torch & set(pins), f"{only_torch & set(pins)} follow TORCH: do not pin them"


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
@pytest.mark.parametrize("index", ["", "https://download.pytorch.org/whl/cpu"])
def test_make_install_uses_the_constraints_and_the_torch_index(index, tmp_path):
    dry_run = subprocess.run(["make", "-n", "-B", "install", f"VENV={tmp_path}/venv", f"TORCH_INDEX={index}"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout.splitlines()
    (torch_line,) = [line for line in dry_run if '"torch==' in line]
    (rest_line,) = [line for line in dry_run if "-r requirements.txt" in line]
    assert ("--index-url" in torch_line) == bool(index) and index in torch_line
    assert "-c constraints.txt" not in torch_line        # torch: any version or build the reader picks
    assert "-c constraints.txt" in rest_line and "--index-url" not in rest_line

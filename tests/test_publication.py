"""Where the book is published (book/_ext/publication.py): one setting turns the buttons that
leave the site on or off, and pins the served notebooks' install cell to the commit that built
the page.  tests/test_site.py checks the same on the built site; these run without a build."""

import importlib.metadata
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import publication  # noqa: E402

CHAPTER = ROOT / "book" / "06_grokking.ipynb"
URL = "https://github.com/someone/emergence-book"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def theme_options():
    """html_theme_options as Jupyter Book makes them from _config.yml with an empty url."""
    return {"repository_url": "", "repository_branch": "main", "path_to_docs": "",
            "launch_buttons": {"notebook_interface": "jupyterlab",
                               "colab_url": "https://colab.research.google.com",
                               "binderhub_url": "https://mybinder.org", "thebe": False}}


def configure(monkeypatch, location=None, commit=COMMIT):
    monkeypatch.delenv(publication.LOCATION_VARIABLE, raising=False)
    monkeypatch.setenv(publication.COMMIT_VARIABLE, commit)
    if location is not None:
        monkeypatch.setenv(publication.LOCATION_VARIABLE, location)
    app = SimpleNamespace(srcdir=str(ROOT))
    config = SimpleNamespace(html_theme_options=theme_options())
    publication.configure_buttons(app, config)
    return app, config.html_theme_options


def test_the_repository_is_one_setting_that_the_environment_overrides(monkeypatch):
    monkeypatch.delenv(publication.LOCATION_VARIABLE, raising=False)
    assert publication.repository_location("") == ""
    assert publication.repository_location(None) == ""
    assert publication.repository_location(URL + ".git") == URL
    monkeypatch.setenv(publication.LOCATION_VARIABLE, " https://github.com/other/book/ ")
    assert publication.repository_location(URL) == "https://github.com/other/book"


def test_the_extension_alone_turns_the_repository_buttons_on():
    """_config.yml asks for no repository button itself: with an empty url Jupyter Book would
    refuse to build, and with a stale one the buttons would lead nowhere."""
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert not config["html"].get("use_repository_button") and not config["html"].get("use_issues_button")
    assert config["sphinx"]["local_extensions"].get("publication") == "book/_ext"


def test_without_a_location_no_button_leads_off_the_site(monkeypatch):
    app, options = configure(monkeypatch)
    assert options["launch_buttons"] == {} and options["repository_url"] == ""
    assert not options["use_repository_button"] and not options["use_issues_button"]
    assert app.emergence_package_source is None


def test_with_a_location_the_buttons_open_the_commit_that_built_the_page(monkeypatch):
    app, options = configure(monkeypatch, location=URL)
    assert options["repository_url"] == URL
    assert options["use_repository_button"] and options["use_issues_button"]
    assert options["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert options["repository_branch"] == COMMIT                       # Binder's ref
    assert app.emergence_package_source == f"git+{URL}@{COMMIT}"


def test_a_location_off_github_is_refused_before_the_build(monkeypatch):
    with pytest.raises(publication.ExtensionError, match="not a GitHub repository URL"):
        configure(monkeypatch, location="https://example.org/someone/book")
    with pytest.raises(publication.ExtensionError):
        configure(monkeypatch, location="https://github.com/only-an-org")


def test_colab_opens_the_pinned_copy_this_site_serves(monkeypatch):
    app, options = configure(monkeypatch, location=URL)
    app.config = SimpleNamespace(html_theme_options=options)
    colab = {"type": "link", "text": "Colab", "url": "theme's link to the stored notebook"}
    binder = {"type": "link", "text": "Binder", "url": "binder"}
    context = {"sourcename": "book/06_grokking.ipynb",
               "header_buttons": [{"label": "launch-buttons", "buttons": [binder, colab]}]}
    publication.colab_opens_the_served_copy(app, "book/06_grokking", "page.html", context, None)
    assert colab["url"] == ("https://colab.research.google.com/github/someone/emergence-book/blob/"
                            "gh-pages/_sources/book/06_grokking.ipynb")
    assert binder["url"] == "binder"


@pytest.mark.skipif(shutil.which("git") is None, reason="no git")
def test_the_commit_is_git_head_and_uncommitted_changes_are_reported(monkeypatch, tmp_path):
    monkeypatch.delenv(publication.COMMIT_VARIABLE, raising=False)
    warnings = []
    monkeypatch.setattr(publication.LOGGER, "warning", warnings.append)
    git = lambda *args: subprocess.run(["git", "-C", str(tmp_path), *args], check=True,
                                       capture_output=True, text=True).stdout.strip()
    git("init", "-q")
    (tmp_path / "page.md").write_text("# A page\n")
    git("add", "page.md")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a page")
    assert publication.build_commit(tmp_path, "main") == git("rev-parse", "HEAD")
    assert warnings == []
    (tmp_path / "page.md").write_text("# A changed page\n")
    assert publication.build_commit(tmp_path, "main") == git("rev-parse", "HEAD")
    assert len(warnings) == 1 and "uncommitted changes" in warnings[0]
    assert publication.build_commit(tmp_path / "not-a-checkout", "main") == "main"


def install_cell(notebook_text: str) -> str:
    cells = [c for c in json.loads(notebook_text)["cells"] if c["cell_type"] == "code"]
    return "".join(cells[1]["source"])


def test_pinning_changes_only_the_placeholder_line():
    stored = CHAPTER.read_text(encoding="utf-8")
    source = f"git+{URL}@{COMMIT}"
    pinned = publication.pin_install_cell(stored, source)
    assert f'PACKAGE_SOURCE = "{source}"' in install_cell(pinned)
    assert pinned.replace(json.dumps(f'PACKAGE_SOURCE = "{source}"\n')[1:-1],
                          json.dumps(publication.PLACEHOLDER + "\n")[1:-1]) == stored
    assert publication.pin_install_cell(stored, None) == stored        # no location: as stored


@pytest.mark.parametrize("count", [0, 2])
def test_a_notebook_without_exactly_one_placeholder_fails_the_build(count):
    with pytest.raises(publication.ExtensionError, match=f"occurs {count} times"):
        publication.pin_install_cell("x = 1\n" + publication.PLACEHOLDER * count, "git+x@y")


class Kernel:
    """Enough of IPython to run the install cell: records the `%pip` line it would run."""

    def __init__(self):
        self.magics = []

    def run_line_magic(self, name, line):
        self.magics.append((name, line))


def run_install_cell(source: str, installed: bool, monkeypatch) -> Kernel:
    from IPython.core.inputtransformer2 import TransformerManager

    def distribution(name):
        assert name == publication.DISTRIBUTION          # this package, not any `emergence`
        if not installed:
            raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    kernel = Kernel()
    namespace = {"get_ipython": lambda: kernel}
    exec(TransformerManager().transform_cell(source), namespace)
    kernel.package_source = namespace["PACKAGE_SOURCE"]
    return kernel


def test_the_install_cell_does_nothing_where_the_package_is_installed(monkeypatch):
    source = install_cell(publication.pin_install_cell(CHAPTER.read_text(), f"git+{URL}@{COMMIT}"))
    assert run_install_cell(source, installed=True, monkeypatch=monkeypatch).magics == []


def test_the_pinned_install_cell_installs_the_commit_that_built_the_page(monkeypatch):
    source = install_cell(publication.pin_install_cell(CHAPTER.read_text(), f"git+{URL}@{COMMIT}"))
    kernel = run_install_cell(source, installed=False, monkeypatch=monkeypatch)
    # IPython expands {PACKAGE_SOURCE} from the cell's namespace when it runs the magic
    assert kernel.magics == [("pip", 'install --quiet "emergence-book @ {PACKAGE_SOURCE}"')]
    assert kernel.package_source == f"git+{URL}@{COMMIT}"


def test_the_unpinned_install_cell_says_how_to_install_the_package(monkeypatch):
    with pytest.raises(RuntimeError, match=r"emergence-book.*pip install -e \.\[notebook\]"):
        run_install_cell(install_cell(CHAPTER.read_text()), installed=False, monkeypatch=monkeypatch)

"""Where the book is published: ONE setting for every link that leads off the site.

The setting is `repository.url` in `_config.yml` (a GitHub repository, e.g.
https://github.com/ORG/REPO); the environment variable EMERGENCE_REPOSITORY overrides it at
build time.  Everything that leads off the site reads it here:

- the repository and issues buttons;
- the Binder button, which opens the repository at the commit that built the page;
- the Colab button, which opens the notebook copy this site serves, from the repository's
  `gh-pages` branch (where README's "Publish the site" puts the site): Colab opens notebooks
  from GitHub only, and only the served copy knows the commit that built the page;
- the notebooks' hidden install cell: in every notebook copy the site serves (download and
  Colab), the build replaces `PACKAGE_SOURCE = None` with the package's source at the commit
  that built the page, `git+<repository>@<commit>`.  The stored notebooks keep the placeholder,
  and a clone set up with `make install` never runs that line (the package is installed).

While the setting is empty the site has none of those buttons (they would lead nowhere) and the
served notebooks keep `PACKAGE_SOURCE = None`: their install cell stops with a message telling
the reader how to install the package themselves.

The commit is $EMERGENCE_COMMIT, else the checkout's HEAD; building a published site from
uncommitted changes is a warning (an error under `-W`), since that commit would not hold them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from sphinx.errors import ExtensionError
from sphinx.util import logging

LOGGER = logging.getLogger(__name__)

DISTRIBUTION = "emergence-book"      # pyproject.toml's [project] name; the import name is `emergence`
PLACEHOLDER = "PACKAGE_SOURCE = None"
LOCATION_VARIABLE = "EMERGENCE_REPOSITORY"
COMMIT_VARIABLE = "EMERGENCE_COMMIT"
PAGES_BRANCH = "gh-pages"           # where `ghp-import` publishes _build/html (README)


def repository_location(configured: str | None) -> str:
    """The repository URL the site links to, or "" when it is not set."""
    url = os.environ.get(LOCATION_VARIABLE, configured or "").strip()
    return url.rstrip("/").removesuffix(".git")


def github_parts(url: str) -> tuple[str, str]:
    """(org, repo) of a GitHub URL; the launch services open GitHub repositories only."""
    head, _, path = url.partition("://")
    host, _, path = path.partition("/")
    parts = path.split("/")
    if head not in ("https", "http") or host.lower() != "github.com" or len(parts) != 2 or not all(parts):
        raise ExtensionError(f"repository.url (or ${LOCATION_VARIABLE}) = {url!r} is not a GitHub "
                             "repository URL such as https://github.com/ORG/REPO")
    return parts[0], parts[1]


def build_commit(srcdir: str | Path, fallback: str) -> str:
    """The commit that built the page: $EMERGENCE_COMMIT, else git's HEAD, else `fallback`."""
    if os.environ.get(COMMIT_VARIABLE):
        return os.environ[COMMIT_VARIABLE].strip()
    def git(*args):
        return subprocess.run(["git", "-C", str(srcdir), *args], capture_output=True, text=True,
                              check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        changes = git("status", "--porcelain")
    except (OSError, subprocess.CalledProcessError):
        LOGGER.warning(f"publication: no git checkout and no ${COMMIT_VARIABLE}: the install cell "
                       f"installs the branch {fallback!r}, not the commit that built the page")
        return fallback
    if changes:
        LOGGER.warning(f"publication: building from uncommitted changes; the served notebooks install "
                       f"commit {commit[:12]}, which does not hold them: commit first")
    return commit


def package_source(url: str, commit: str) -> str:
    return f"git+{url}@{commit}"


def pin_install_cell(text: str, source: str | None) -> str:
    """A notebook's JSON with its install cell pointed at `source` (None: left as stored).

    A textual replacement keeps the file byte for byte as stored otherwise; a notebook without
    exactly one placeholder is an error, so no chapter is served with a silent install cell."""
    count = text.count(PLACEHOLDER)
    if count != 1:
        raise ExtensionError(f"publication: the install cell's {PLACEHOLDER!r} occurs {count} times, not once")
    if source is None:
        return text
    return text.replace(PLACEHOLDER, "PACKAGE_SOURCE = " + json.dumps(json.dumps(source))[1:-1])


def configure_buttons(app, config):
    """Turn the buttons that leave the site on (location set) or off (not set)."""
    options = config.html_theme_options
    url = repository_location(options.get("repository_url"))
    app.emergence_package_source = None
    if not url:
        options["repository_url"] = ""
        options["launch_buttons"] = {}
        for button in ("use_repository_button", "use_issues_button", "use_edit_page_button",
                       "use_source_button"):
            options[button] = False
        return
    github_parts(url)
    commit = build_commit(app.srcdir, options.get("repository_branch") or "main")
    options["repository_url"] = url
    options["repository_branch"] = commit        # Binder opens the commit that built the page
    options["use_repository_button"] = options["use_issues_button"] = True
    app.emergence_package_source = package_source(url, commit)


def colab_opens_the_served_copy(app, pagename, templatename, context, doctree):
    """Point the theme's Colab button at this site's pinned copy on the gh-pages branch."""
    source = app.emergence_package_source
    if source is None or not context.get("sourcename", "").endswith(".ipynb"):
        return
    org, repo = github_parts(app.config.html_theme_options["repository_url"])
    for group in context.get("header_buttons", []):
        for button in group.get("buttons", []) if group.get("label") == "launch-buttons" else []:
            if button.get("text") == "Colab":
                colab = app.config.html_theme_options["launch_buttons"]["colab_url"].rstrip("/")
                button["url"] = (f"{colab}/github/{org}/{repo}/blob/{PAGES_BRANCH}/_sources/"
                                 f"{context['sourcename']}")


def pin_served_notebooks(app, exception):
    """Write the package's source into the install cell of every notebook copy the site serves."""
    if exception is not None or app.builder.format != "html":
        return
    for docname in sorted(app.env.found_docs):
        if not str(app.env.doc2path(docname)).endswith(".ipynb"):
            continue
        served = Path(app.outdir, "_sources", f"{docname}.ipynb")
        if not served.exists():
            raise ExtensionError(f"publication: {served} is missing: the site offers no download of {docname}")
        served.write_text(pin_install_cell(served.read_text(encoding="utf-8"), app.emergence_package_source),
                          encoding="utf-8")


def setup(app):
    app.connect("config-inited", configure_buttons, priority=100)   # before the theme reads them
    app.connect("html-page-context", colab_opens_the_served_copy, priority=600)  # after the theme's
    app.connect("build-finished", pin_served_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

"""The published site, checked the way a reader sees it: in a real (headless) Chromium.

Every page of the table of contents is served from `_build/html` on 127.0.0.1 and loaded with
all other network traffic blocked, as on an offline laptop.  Each page must answer HTTP 200 and
log no console error; every image must decode; no widget shows as placeholder text; math is
typeset.  Each chapter page must have a figure, its "Settings used" box, a working notebook
download, the Colab, Binder, repository and issues buttons exactly when the book's location is
set (book/_ext/publication.py: none that lead nowhere), and every slider
(figures.common.frame_slider) must change its frame when moved; the references page must list
every cited work.
Screenshots of the intro and the first chapter, light and dark, go to `_build/test-artifacts/`.

`make test` builds the site first (`make book`), so this checks the build of the same CI run.
The browser is the system's Chromium (Debian: `apt-get install chromium`; `make test` installs
it when missing), driven by Playwright; set CHROMIUM=/path/to/chrome to use another.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import sys
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
sys.path.insert(0, str(ROOT / "book" / "_ext"))
from publication import PAGES_BRANCH, repository_location  # noqa: E402
from publication import PLACEHOLDER as INSTALL_PLACEHOLDER  # noqa: E402
# Where the site says the book is published, read as the build read it (_config.yml or
# $EMERGENCE_REPOSITORY; `make test` builds and tests in one environment).
LOCATION = repository_location(yaml.safe_load((ROOT / "_config.yml").read_text())["repository"].get("url"))
ARTIFACTS = ROOT / "_build" / "test-artifacts"

# What a widget or a progress bar shows when its JavaScript is missing.
PLACEHOLDERS = ("Loading widget", "kernel connection is required", "Widget Javascript not detected",
                "VBox(children", "HBox(children", "IntSlider(", "FloatProgress(", "Stack(children")


def toc_pages() -> list[str]:
    """The toc's pages, as paths relative to the repository root without a suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


PAGES = toc_pages()
CHAPTERS = [p for p in PAGES if (ROOT / f"{p}.ipynb").exists()]


def slider_calls(page: str) -> int:
    """How many code cells of a chapter call figures.common.frame_slider (each shows one slider)."""
    cells = json.loads((ROOT / f"{page}.ipynb").read_text())["cells"]
    return sum("frame_slider(" in "".join(c["source"]) for c in cells if c["cell_type"] == "code")


SLIDER_CHAPTERS = [p for p in CHAPTERS if slider_calls(p)]


def find_chromium() -> str:
    """The browser binary: $CHROMIUM, else Debian's real binary, else one on PATH."""
    candidates = [os.environ.get("CHROMIUM", ""), "/usr/lib/chromium/chromium"]
    candidates += [shutil.which(name) or "" for name in
                   ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")]
    for path in candidates:
        if path and os.access(path, os.X_OK):
            return path
    pytest.fail("no Chromium found: install it (Debian: apt-get install chromium; `make test` does "
                "this when it can) or set CHROMIUM=/path/to/chrome")


@contextlib.contextmanager
def serve(directory: Path):
    """A local web server over `directory`, for as long as the block runs; yields its URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def site_url():
    if not (SITE / "index.html").exists():
        pytest.fail(f"no built site in {SITE}: run `make book` first (`make test` does)")
    with serve(SITE) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(
        executable_path=find_chromium(), headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
    yield chromium
    chromium.close()
    playwright.stop()


class Visit:
    """One page loaded offline, with everything that went wrong while loading it."""

    def __init__(self, browser, site_url: str, path: str, dark: bool = False):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900},
                                           color_scheme="dark" if dark else "light")
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(
            f"console error: {m.text} ({m.location.get('url', '')})"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(
            f"failed request: {r.url} ({r.failure})"))
        self.page.route("**/*", lambda route: self.local_only(route, site_url))
        self.response = self.page.goto(site_url + path, wait_until="load")
        self.page.wait_for_load_state("networkidle")

    def local_only(self, route, site_url: str):
        """Serve the site; record and block anything else, as an offline reader would see it."""
        if route.request.url.startswith(site_url):
            route.continue_()
        else:
            self.problems.append(f"external request: {route.request.url}")
            route.abort()

    def close(self):
        self.context.close()


@pytest.fixture(scope="module")
def visits(browser, site_url):
    """Each toc page, loaded once; the tests below read what was recorded."""
    loaded = {page: Visit(browser, site_url, f"{page}.html") for page in PAGES}
    yield loaded
    for visit in loaded.values():
        visit.close()


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_offline_without_errors(visits, page):
    visit = visits[page]
    assert visit.response is not None and visit.response.status == 200
    assert visit.problems == []


@pytest.mark.parametrize("page", PAGES)
def test_every_image_decodes_and_no_widget_placeholder_shows(visits, page):
    page_ = visits[page].page
    images = page_.evaluate(
        "Array.from(document.images).map(i => [i.currentSrc || i.src, i.complete && i.naturalWidth > 0])")
    assert [src for src, ok in images if not ok] == []
    outputs = "\n".join(page_.locator(".cell_output").all_inner_texts())   # not the code cells
    assert [p for p in PLACEHOLDERS if p in outputs] == []


@pytest.mark.parametrize("page", PAGES)
def test_every_link_inside_the_site_resolves(visits, site_url, page):
    page_ = visits[page].page
    links = page_.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
    local = sorted({link.split("#")[0] for link in links if link.startswith(site_url)})
    broken = [link for link in local if page_.request.get(link).status != 200]
    assert broken == []


def test_the_site_has_every_toc_page_and_the_redirect():
    assert [p for p in PAGES if not (SITE / f"{p}.html").exists()] == []
    assert "book/intro.html" in (SITE / "index.html").read_text()


@pytest.mark.parametrize("page", CHAPTERS)
def test_each_chapter_has_figures_settings_launch_and_download(visits, page):
    page_ = visits[page].page
    assert page_.locator(".cell_output img").count() >= 1, "no figure on the page"
    settings = page_.locator(".settings-used")
    assert settings.count() == 1, "no 'Settings used' box"
    assert re.search(r"Profile (fast|full) on", settings.inner_text())
    name = Path(page).name
    colab = page_.locator(f'a[href*="colab.research.google.com/github/"][href$="{name}.ipynb"]')
    binder = page_.locator('a[href*="mybinder.org/v2/gh/"]')
    buttons = [colab, binder, page_.locator(".btn-source-repository-button"),
               page_.locator(".btn-source-issues-button")]
    if LOCATION:          # Colab opens the pinned copy this site serves (from the gh-pages branch)
        assert all(button.count() >= 1 for button in buttons)
        assert f"/blob/{PAGES_BRANCH}/_sources/" in colab.first.get_attribute("href")
    else:                 # not published yet: no button may lead nowhere
        assert [button.count() for button in buttons] == [0, 0, 0, 0]
    download = page_.locator(f'a[href$="{name}.ipynb"]:not([href*="://"])')
    assert download.count() >= 1, "no notebook download link"
    response = page_.request.get(download.first.evaluate("a => a.href"))
    assert response.status == 200
    # its install cell installs the package at the commit that built the page, or (no location)
    # keeps the placeholder, and stops with a message saying how to install the package
    install = "".join([c for c in json.loads(response.text())["cells"] if c["cell_type"] == "code"][1]["source"])
    if LOCATION:
        assert re.search(rf'PACKAGE_SOURCE = "git\+{re.escape(LOCATION)}@[\w.-]+"', install), install[:400]
    else:
        assert INSTALL_PLACEHOLDER in install


CONTRAST = """el => {
  const rgba = c => c.match(/[\\d.]+/g).map(Number);
  const background = e => {
    for (; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const luminance = ([r, g, b]) => {
    const f = v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const [hi, lo] = [luminance(rgba(getComputedStyle(el).color).slice(0, 3)),
                    luminance(background(el))].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}"""


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_outputs_are_legible_in_both_themes(browser, site_url, dark):
    """WCAG contrast >= 4.5 for the settings box and a printed output, light and dark theme."""
    visit = Visit(browser, site_url, f"{CHAPTERS[0]}.html", dark=dark)
    try:
        for selector in (".settings-used p", ".settings-used summary", ".cell_output pre"):
            ratios = [element.evaluate(CONTRAST) for element in visit.page.locator(selector).all()[:5]]
            assert ratios and min(ratios) >= 4.5, (selector, ratios)
    finally:
        visit.close()


# Moves a frame slider (emergence.figures.common.frame_slider) as a reader's drag does: set the range
# input's value and fire its `input` event.  Returns the image's src, the value shown and the
# image's width once decoded (0: it does not decode).
MOVE_SLIDER = """async (root, value) => {
  const slider = root.querySelector('input[type=range]'), image = root.querySelector('img');
  slider.value = value;
  slider.dispatchEvent(new Event('input', {bubbles: true}));
  await image.decode().catch(() => null);
  return {src: image.src, shown: root.querySelector('output').textContent, width: image.naturalWidth};
}"""


def check_slider(root) -> None:
    """A slider is there and works: its first and last frames differ, decode, and moving it back
    shows the first again."""
    last = int(root.locator("input[type=range]").get_attribute("max"))
    assert last >= 1, "a slider over one frame"
    first, end, again = (root.evaluate(MOVE_SLIDER, value) for value in (0, last, 0))
    assert first["width"] > 0 and end["width"] > 0, "a frame does not decode"
    moved = end["src"] != first["src"] and end["shown"] != first["shown"]
    assert moved, "moving it changes nothing"
    back = again == first
    assert back, "moving it back does not show the first frame again"


@pytest.mark.parametrize("page", SLIDER_CHAPTERS)
def test_each_slider_is_there_and_moving_it_changes_the_frame(visits, page):
    sliders = visits[page].page.locator(".cell_output .frame-slider").all()
    assert len(sliders) == slider_calls(page)
    for root in sliders:
        check_slider(root)


def test_two_sliders_on_one_page_work_offline_and_apart(browser, tmp_path):
    """The slider's own page test, no built site needed: two sliders side by side, served
    offline; each moves its own frame only."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emergence.figures import common

    def draw(i):
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot([0, 1], [0, i])
        ax.set_title(f"frame {i}")
        return fig

    sliders = [common.frame_slider(draw, 4), common.frame_slider(draw, 3, label="L", values=[1, 2, 30])]
    body = "\n".join(s._repr_html_() for s in sliders)
    (tmp_path / "index.html").write_text(f"<!DOCTYPE html><html><body>{body}</body></html>")
    with serve(tmp_path) as url:
        visit = Visit(browser, url, "index.html")
        try:
            a, b = visit.page.locator(".frame-slider").all()
            b_before = b.locator("img").get_attribute("src")
            check_slider(a)
            a.evaluate(MOVE_SLIDER, 3)
            assert b.locator("img").get_attribute("src") == b_before, "moving one slider moved the other"
            check_slider(b)
            assert b.evaluate(MOVE_SLIDER, 2)["shown"] == "30"
            assert visit.problems == []
        finally:
            visit.close()


def test_math_is_typeset_offline(visits):
    """The intro's display formula is rendered by the site's own MathJax (no CDN)."""
    assert visits[PAGES[0]].page.locator("mjx-container").count() >= 1


def cited_keys() -> set[str]:
    keys = set()
    for source in [*ROOT.glob("book/*.ipynb"), *ROOT.glob("book/*.md")]:
        for group in re.findall(r"\{cite(?::[pt])?\}`([^`]+)`", source.read_text()):
            keys |= {k.strip() for k in group.split(",")}
    return keys


def test_the_bibliography_lists_every_cited_work(visits):
    references = next(p for p in PAGES if p.endswith("references"))
    entries = visits[references].page.locator(".citation")
    keys = cited_keys()
    assert len(keys) >= 1
    assert entries.count() == len(keys)


def test_figures_have_an_opaque_background_for_the_dark_theme():
    """Transparent figures vanish on a dark page; the house style paints them white."""
    from PIL import Image

    figures = sorted((SITE / "_images").glob("*.png"))
    assert figures
    transparent = [f.name for f in figures if Image.open(f).convert("RGBA").getpixel((0, 0))[3] < 255]
    assert transparent == []


def test_screenshots_of_the_intro_and_a_chapter(browser, site_url):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for page in (PAGES[0], CHAPTERS[0]):
        for dark in (False, True):
            visit = Visit(browser, site_url, f"{page}.html", dark=dark)
            target = ARTIFACTS / f"{Path(page).name}-{'dark' if dark else 'light'}.png"
            if page in CHAPTERS:  # the settings box and the first figure under it
                visit.page.locator(".settings-used").scroll_into_view_if_needed()
            visit.page.screenshot(path=str(target), full_page=False)
            visit.close()
            assert target.stat().st_size > 10_000


def included_functions(page: str) -> list[str]:
    """The package functions a chapter shows with {literalinclude} ... :pyobject: NAME."""
    cells = json.loads((ROOT / f"{page}.ipynb").read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return re.findall(r"^:pyobject:\s*(\w+)\s*$", text, flags=re.M)


@pytest.mark.parametrize("page", [p for p in CHAPTERS if included_functions(p)])
def test_the_code_a_chapter_includes_is_on_its_page(page):
    """Each function a chapter pulls from the package with {literalinclude} is on the built page,
    as code (the directive read the file; a wrong path or name would have failed the build)."""
    html = (SITE / f"{page}.html").read_text()
    blocks = " ".join(re.findall(r'<div class="highlight-python[^"]*">(.*?)</pre>', html, flags=re.S))
    text = re.sub(r"<[^>]+>", "", blocks)
    for name in included_functions(page):
        assert re.search(rf"\bdef {name}\(", text), f"{page}: the code of {name} is not on the page"


@pytest.mark.parametrize("page", CHAPTERS)
def test_each_chapter_links_its_run_and_the_files_are_there(visits, page):
    """The Settings-used box links the run's summary.json and history.npz, which the build
    published (book/_ext/results.py); both answer 200, and the summary is that chapter's run."""
    page_ = visits[page].page
    links = page_.locator(".settings-used .run-downloads a[download]")
    hrefs = [links.nth(i).evaluate("a => a.href") for i in range(links.count())]
    assert [h.rsplit("/", 1)[-1] for h in hrefs] == ["summary.json", "history.npz"], hrefs
    summary, history = (page_.request.get(h) for h in hrefs)
    assert summary.status == 200 and history.status == 200
    assert history.body()[:2] == b"PK"                     # an .npz is a zip archive
    experiment = hrefs[0].rsplit("/", 2)[-2]          # the chapter's own experiment, run as it was set
    code = "".join("".join(c["source"]) for c in json.loads((ROOT / f"{page}.ipynb").read_text())["cells"])
    assert f"from emergence.experiments import {experiment}" in code
    assert json.loads(summary.text())["versions"]["emergence"]


def test_the_results_page_shows_every_chapter_and_the_numbers_the_tests_compute(tmp_path):
    """The Results page has a table for every chapter, and its values are the ones the chapters'
    acceptance tests compute, here, again, from the summaries and histories the site publishes."""
    import subprocess
    runs = SITE / "_static" / "runs"
    records = json.loads((runs / "results.json").read_text())["checks"]
    html = (SITE / "book" / "results.html").read_text()
    chapters = {Path(page).name for page in CHAPTERS}
    assert len(records) == len(chapters), (sorted(records), sorted(chapters))
    for name, chapter in records.items():
        assert f'id="results-{name.replace("_", "-")}"' in html
        assert chapter["checks"] and all(o != "failed" for o in chapter["tests"].values()), (name, chapter["tests"])
    log = tmp_path / "checks.jsonl"
    env = dict(os.environ, EMERGENCE_RESULTS_RUNS=str(runs), EMERGENCE_CRITERIA_LOG=str(log))
    env.pop("EMERGENCE_AUDIT_SEED", None)
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    *[f"tests/test_{name}.py" for name in sorted(records)]], cwd=ROOT, env=env, check=False,
                   capture_output=True)
    again = [json.loads(line) for line in log.read_text().splitlines()]
    key = lambda r: (r["test"].split("::")[-1], r["criterion"], json.dumps(r["seed"]))   # noqa: E731
    page = {key(r): r["value"] for chapter in records.values() for r in chapter["checks"]}
    assert {key(r): r["value"] for r in again} == page
    shown = re.findall(r'<tr class="results-check[^"]*">(.*?)</tr>', html, flags=re.S)
    assert len(shown) == len(page)


def exercise_chapters() -> list[str]:
    return [p for p in CHAPTERS if "{exercise}" in (ROOT / f"{p}.ipynb").read_text()]


@pytest.mark.parametrize("page", exercise_chapters()[:1])
def test_solutions_are_hidden_until_clicked(visits, page):
    """An exercise's solution (a dropdown, sphinx-togglebutton) shows only its title until the
    reader opens it with the title's toggle button; its executed code is inside."""
    page_ = visits[page].page
    solution = page_.locator(".solution.dropdown").first
    code = solution.locator(".cell_input").first
    assert code.count() == 1 and not code.is_visible()
    assert solution.locator("button.toggle-button").first.get_attribute("aria-expanded") == "false"
    solution.locator("button.toggle-button").first.click()
    code.wait_for(state="visible", timeout=5000)
    assert code.is_visible()

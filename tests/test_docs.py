"""The documentation site: it builds with warnings as errors, every internal link resolves,
and every page renders in headless Chromium.

The site is built once into a temporary directory (``sphinx-build -W --keep-going``, as
``make docs`` does). Links: every ``href`` and ``src`` of every page that points inside the
site must name a file that exists, and a ``#fragment`` on an HTML page must name an ``id``
on that page. Rendering: one Chromium process loads every page (each in a frame of a harness
page) and reports the title each page's DOM ends with, which must be the page's own title, and
that its body has text. Only the Chromium part is skipped where ``chromium`` is absent
(``.ci/run`` installs it).
"""

from __future__ import annotations

import html
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.conftest import made_once

pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[1] / "docs"
EXTERNAL = ("http:", "https:", "mailto:", "data:", "javascript:", "ftp:")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Lets the harness read each frame's document (every page is a file:// URL).
    "--allow-file-access-from-files",
]


class _Page(HTMLParser):
    """The title, the ids and the link targets of one HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.ids: set[str] = set()
        self.links: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(name):
                self.ids.add(attrs[name])
        self.links += [attrs[name] for name in ("href", "src") if attrs.get(name)]
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


class _Report(HTMLParser):
    """The harness's report: one ``<li>`` per page with the title and text length it rendered."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rendered: dict[str, tuple[str, int]] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "li" and "data-page" in attrs:
            self.rendered[attrs["data-page"]] = (attrs["data-title"], int(attrs["data-text"]))


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _squash(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    """The site, built once per run (the first worker builds, the others wait for it)."""
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_nb")

    def build(out):
        cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
        cmd += ["-d", str(out.parent / "doctrees"), str(DOCS), str(out)]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, f"sphinx-build failed:\n{run.stderr[-4000:]}"

    return made_once(tmp_path_factory, "docs_html", build)


@pytest.fixture(scope="session")
def pages(site) -> dict[Path, _Page]:
    found = {path: _parse(path) for path in sorted(site.rglob("*.html"))}
    assert len(found) > 20, "the site has fewer pages than its user guide alone"
    return found


def test_user_guide_pages_exist(site):
    for name in [
        "index", "getting_started", "methods", "erasure", "own_models", "causes", "scale",
        "cli", "numpy_models", "pima_repair", "hierarchical_unlearning", "api",
        "architecture", "testing", "changelog", "benchmarks/index", "benchmarks/causes",
    ]:  # fmt: skip
        assert (site / f"{name}.html").is_file(), name


def test_every_internal_link_resolves(site, pages):
    broken = []
    checked = 0
    for path, page in pages.items():
        for link in page.links:
            if link.startswith(EXTERNAL) or link.startswith("//"):
                continue
            parts = urlsplit(link)
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            checked += 1
            if not target.is_file():
                broken.append(f"{path.relative_to(site)}: {link} (no file)")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{path.relative_to(site)}: {link} (no #{parts.fragment})")
    assert checked > 500
    assert not broken, "broken internal links:\n" + "\n".join(broken)


def test_every_page_renders_in_chromium(site, pages, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's package)")
    names = {path: path.relative_to(site).as_posix() for path in pages}
    frames = "\n".join(
        f'<iframe src="{path.as_uri()}" data-page="{html.escape(name)}" onload="seen(this)">'
        "</iframe>"
        for path, name in names.items()
    )
    harness = tmp_path / "harness.html"
    harness.write_text(
        "<!DOCTYPE html><html><head><title>harness</title><script>\n"
        "function seen(frame) {\n"
        "  var doc = frame.contentDocument, li = document.createElement('li');\n"
        "  li.setAttribute('data-page', frame.dataset.page);\n"
        "  li.setAttribute('data-title', doc ? doc.title : '');\n"
        "  li.setAttribute('data-text', doc && doc.body ? doc.body.innerText.length : -1);\n"
        "  document.getElementById('report').appendChild(li);\n"
        "}\n</script></head><body><ul id='report'></ul>\n" + frames + "\n</body></html>",
        encoding="utf-8",
    )
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    run = subprocess.run(
        [*cmd, "--dump-dom", harness.as_uri()], capture_output=True, text=True, timeout=180
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report = _Report()
    report.feed(run.stdout)
    missing = sorted(set(names.values()) - set(report.rendered))
    assert not missing, f"pages Chromium did not render: {missing}"
    wrong = []
    for path, name in names.items():
        title, text = report.rendered[name]
        want = _squash(pages[path].title)
        if not want or _squash(title) != want or text <= 0:
            wrong.append(f"{name}: title {title!r} (want {want!r}), {text} characters of text")
    assert not wrong, "pages that did not render:\n" + "\n".join(wrong)

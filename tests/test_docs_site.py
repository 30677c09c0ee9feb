"""The documentation site: `mkdocs build --strict` succeeds, the API reference covers every
public name, and every program the pages show (a ```python block with a title="....py") runs.

Blocks with the same title on one page are one file, in page order; each file that has an
``if __name__ == "__main__":`` block is run as a program, with the page's other files beside it.
"""

from __future__ import annotations

import html
import importlib
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set, Tuple

import pytest

from .conftest import wait_for

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PUBLIC_MODULES = [
    "postgrip_agent",
    "postgrip_agent.workflow",
    "postgrip_agent.activity",
    "postgrip_agent.testing",
    "postgrip_agent.replayer",
    "postgrip_agent.history",
]
TITLED_BLOCK = re.compile(r'^```python\s+title="([\w./-]+\.py)"\s*\n(.*?)^```', re.S | re.M)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once per test run: the first worker to get here builds it into the run's shared
    temporary directory, the others wait for it (its build log says why a failed build failed)."""
    try:
        import mkdocs  # noqa: F401
    except ImportError:
        pytest.fail("mkdocs is not installed: pip install -e '.[docs]' (the test extra includes it)")
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the run's, shared by its workers
    out, log, claim = shared / "docs-site", shared / "docs-site.log", shared / "docs-site.claim"
    try:
        os.close(os.open(claim, os.O_CREAT | os.O_EXCL))
    except FileExistsError:  # another worker builds it
        wait_for(lambda: log.exists(), timeout=300, interval=0.1)
    else:
        outcome = "1\nthe build did not finish"  # what the waiting workers read if the build raises
        try:
            done = subprocess.run(
                [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=300,
                env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
            )
            outcome = f"{done.returncode}\n{done.stderr[-4000:]}"
        finally:  # always written, so no worker waits out its timeout on a build that failed
            (shared / "docs-site.tmp").write_text(outcome)
            (shared / "docs-site.tmp").rename(log)
    code, _, stderr = log.read_text().partition("\n")
    assert code == "0", stderr
    return out


def test_the_site_builds_with_every_page(site: Path) -> None:
    pages = sorted(str(p.relative_to(DOCS).with_suffix("")) for p in DOCS.rglob("*.md"))
    built = [page for page in pages if (site / page / "index.html").exists() or page == "index"]
    assert built == pages
    assert (site / "index.html").exists()


def test_the_api_reference_documents_every_public_name(site: Path) -> None:
    anchors: Set[str] = set()
    for page in (site / "reference").rglob("index.html"):
        anchors |= {anchor.rsplit(".", 1)[-1] for anchor in re.findall(r'id="(postgrip_agent[\w.]*)"', page.read_text())}
    missing = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        missing += [
            f"{module_name}.{name}"
            for name in module.__all__
            if not inspect.ismodule(getattr(module, name)) and name not in anchors
        ]
    assert not missing, f"not in the API reference (add a ::: line to a page of docs/reference/): {missing}"


def test_the_reference_renders_docstrings(site: Path) -> None:
    page = html.unescape((site / "reference" / "client" / "index.html").read_text())
    doc = inspect.getdoc(importlib.import_module("postgrip_agent").Client.start_workflow)
    assert doc is not None and doc.split("\n")[0].split("`")[0][:40] in page


def _programs() -> Iterator[Tuple[str, Dict[str, str]]]:
    for page in sorted(DOCS.rglob("*.md")):
        files: Dict[str, List[str]] = {}
        for title, body in TITLED_BLOCK.findall(page.read_text()):
            files.setdefault(title, []).append(body)
        if files:
            yield str(page.relative_to(DOCS)), {title: "\n".join(bodies) for title, bodies in files.items()}


PROGRAMS = list(_programs())


def test_the_guides_show_programs() -> None:
    pages = {page for page, _ in PROGRAMS}
    assert {
        "tutorial.md",
        "guides/messages.md",
        "guides/cancellation.md",
        "guides/child-workflows.md",
        "guides/schedules.md",
        "guides/versioning.md",
    } <= pages, pages


@pytest.mark.parametrize("page,files", PROGRAMS, ids=[page for page, _ in PROGRAMS])
def test_the_programs_on_the_page_run(page: str, files: Dict[str, str], tmp_path: Path) -> None:
    for title, source in files.items():
        (tmp_path / title).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / title).write_text(source)
    mains = [title for title, source in files.items() if 'if __name__ == "__main__":' in source]
    assert mains, f"{page}: none of {sorted(files)} is a program (no __main__ block)"
    for title in mains:
        done = subprocess.run(
            [sys.executable, title],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert done.returncode == 0, f"{page}: {title} failed:\n{done.stderr[-3000:]}"
        assert done.stdout.strip(), f"{page}: {title} printed nothing"


# ------------------------------------------------------------------ cross-references, links, code blocks

RAW_ROLE = re.compile(r":(?:meth|class|func|mod|attr|exc|data|obj):(?:`|<code>)")


def raw_roles(text: str) -> List[str]:
    """Sphinx roles left as text (mkdocstrings renders them literally: ``:meth:`x``` is no link)."""
    return [match.group(0) for match in RAW_ROLE.finditer(text)]


def test_the_raw_role_check_finds_what_it_is_for() -> None:
    assert raw_roles("see :meth:`Client.start` and :class:<code>Agent</code>") == [":meth:`", ":class:<code>"]
    assert raw_roles('see <a class="autorefs" href="#x"><code>start()</code></a> and ``plain``') == []


def test_no_docstring_uses_a_sphinx_role() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()[:80]}"
        for path in sorted((ROOT / "postgrip_agent").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if raw_roles(line)
    ]
    assert not found, "use [`name`][postgrip_agent.path.name] (a link) or ``name`` instead:\n" + "\n".join(found)


def test_the_built_site_has_no_raw_role_and_its_cross_references_are_links(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    found = [f"{page.relative_to(site)}: {role}" for page in pages for role in raw_roles(page.read_text())]
    assert not found, found
    client = (site / "reference" / "client" / "index.html").read_text()
    assert 'class="autorefs autorefs-internal"' in client  # docstrings' cross-references became links


def test_a_broken_link_fails_the_strict_build(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# Home\n\nSee [the guide](guide.md) and [its part](other.md#nowhere).\n")
    (tmp_path / "docs" / "other.md").write_text("# Other\n")
    (tmp_path / "mkdocs.yml").write_text(
        "site_name: t\nstrict: true\nvalidation:\n  anchors: warn\nnav:\n  - index.md\n  - other.md\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode != 0
    assert "guide.md" in done.stderr and "nowhere" in done.stderr  # the missing page and the missing anchor, each named


def test_code_blocks_show_every_character_at_1280px(site: Path, browser: Any) -> None:
    browser.set_window_size(1280, 900)
    cut: List[str] = []
    try:
        _cut_code_blocks(site, browser, cut)
    finally:
        browser.set_window_size(1366, 900)  # as the fixture made it: other tests share the browser
    assert not cut, cut


def _cut_code_blocks(site: Path, browser: Any, cut: List[str]) -> None:
    pages = ["tutorial", "guides/messages", "guides/schedules", "cron", "flask", "reference/client"]
    for page in pages:
        browser.get((site / page / "index.html").as_uri())
        widths = browser.execute_script(
            "return Array.from(document.querySelectorAll('.md-content pre > code'))"
            ".map(c => [c.scrollWidth, c.clientWidth, c.textContent.slice(0, 40)])"
        )
        assert widths, f"{page}: no code block found"
        cut.extend(f"{page}: {text!r} ({scroll} > {client} px)" for scroll, client, text in widths if scroll > client + 1)

"""The documentation builds without broken links, and the README stays a front page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tests.support.paths import ROOT

README_MAX_LINES = 200
# Inline links and images, `[text](target)`; reference definitions, `[id]: target`.
_INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.MULTILINE)
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")


def test_the_site_builds_strictly_without_link_warnings(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
         str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    output = build.stdout + build.stderr
    assert build.returncode == 0, output
    problems = [line for line in output.splitlines()
                if ("WARNING" in line or "ERROR" in line)
                and re.search(r"link|anchor|not found|not included in the \"nav\"", line)]
    assert problems == []
    assert (tmp_path / "site" / "index.html").is_file()


def test_readme_is_a_front_page() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines; reference material belongs in docs/")


def test_every_relative_link_in_the_readme_exists() -> None:
    targets = _link_targets((ROOT / "README.md").read_text(encoding="utf-8"))
    relative = [t for t in targets if not urlsplit(t).scheme and not t.startswith("#")]
    assert relative, "the README links to the docs"
    missing = [t for t in relative
               if not (ROOT / unquote(urlsplit(t).path)).exists()]
    assert missing == []


def test_link_targets_ignore_code() -> None:
    text = ("[a](docs/a.md) `[b](b.md)` [c](https://x.org/c) [d](docs/d.md \"title\")\n"
            "```\n[e](e.md)\n```\n[f]: docs/f.md\n")
    assert _link_targets(text) == ["docs/a.md", "https://x.org/c", "docs/d.md", "docs/f.md"]


def _link_targets(markdown: str) -> list[str]:
    """Link targets of Markdown text, leaving out code blocks and code spans."""
    text = _CODE_SPAN.sub("", _FENCE.sub("", markdown))
    found = [(m.start(), m.group(1)) for m in _INLINE_LINK.finditer(text)]
    found += [(m.start(), m.group(1)) for m in _REFERENCE_LINK.finditer(text)]
    return [target for _, target in sorted(found)]

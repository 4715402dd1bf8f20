"""Docs that stand alone (issue 18, item 8): everything README.md and docs/*.md link to is in the
repository, every ``#P7``-style anchor exists, and docs/policy.md lists every rule P1-P28 with its
requirement, its source and where the code enforces it. A user of the public repository has no
other copy of the policy, so a broken link here is a broken promise."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
POLICY = ROOT / "docs" / "policy.md"
RULES = [f"P{n}" for n in range(1, 29)]

#: ``[text](target)``, ``![alt](target)`` (not inside code), ``[id]: target``, ``href=``/``src=``.
_INLINE = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
_HTML = re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""")
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)


def _links(text: str) -> list[str]:
    text = _CODE.sub("", text)  # an example in a code span is not a link
    return [m.group(1) for pattern in (_INLINE, _REFERENCE, _HTML) for m in pattern.finditer(text)]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"<[^>]+>", "", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    """The explicit ``<a id="...">`` anchors and the heading slugs of a Markdown file."""
    text = _CODE.sub("", path.read_text(encoding="utf-8"))
    explicit = set(re.findall(r"""<a\s+(?:id|name)\s*=\s*["']([^"']+)["']""", text))
    headings = {_slug(m) for m in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.MULTILINE)}
    return explicit | headings


def _local(link: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", link, re.IGNORECASE)  # http:, mailto:, ...


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_into_the_repository(doc: Path) -> None:
    """A link to ``../shared/POLICY.md`` (outside the repository) or to a file that is not there fails."""
    broken = []
    for link in filter(_local, _links(doc.read_text(encoding="utf-8"))):
        target, _, fragment = unquote(link).partition("#")
        path = (doc.parent / target).resolve() if target else doc
        if not path.is_relative_to(ROOT) or not path.exists():
            broken.append(f"{link} (no such file in the repository)")
        elif fragment and path.suffix == ".md" and fragment not in _anchors(path):
            broken.append(f"{link} (no anchor #{fragment} in {path.relative_to(ROOT)})")
    assert broken == [], f"{doc.relative_to(ROOT)} links to: {broken}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_doc_refers_to_a_machine_path(doc: Path) -> None:
    """Not even in prose or code: the repository stands alone."""
    text = doc.read_text(encoding="utf-8")
    assert not re.search(r"\.\./shared/|/work/|POLICY\.md|DESIGN\.md", text)


def test_the_link_checker_sees_broken_links() -> None:
    """The checks above would pass on nothing if the patterns found no links: they do."""
    text = '[a](../shared/POLICY.md) [b](docs/policy.md#P7 "t")\n[c]: x.md\n`[no](y.md)` <a href="z.md">'
    assert _links(text) == ["../shared/POLICY.md", "docs/policy.md#P7", "x.md", "z.md"]
    assert _slug("Policy rules and how they are enforced") == "policy-rules-and-how-they-are-enforced"


def test_the_policy_reference_has_an_anchor_for_every_rule() -> None:
    """P1-P28 each have a heading with a stable explicit anchor, which pages and docs link to."""
    text = POLICY.read_text(encoding="utf-8")
    headings = re.findall(r'^### <a id="(P\d+)"></a>\1\. \S', text, re.MULTILINE)
    assert headings == RULES
    assert {f"P{n}" for n in range(1, 29)} <= _anchors(POLICY)


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_says_what_it_requires_where_it_comes_from_and_where_it_is_enforced(rule: str) -> None:
    text = POLICY.read_text(encoding="utf-8")
    section = text.split(f'<a id="{rule}"></a>', 1)[1].split("\n#", 1)[0]
    for part in ("**Requires.**", "**Source.**", "**Enforced.**"):
        assert part in section, f"{rule} has no {part}"
    source = section.split("**Source.**", 1)[1].split("**", 1)[0]
    assert len(source.split()) >= 2 and "/" not in source.replace("§", ""), (
        f"{rule}: name the source in words"
    )

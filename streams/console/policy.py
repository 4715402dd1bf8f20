"""The console's public ``/policy`` page: the policy reference ``docs/policy.md`` rendered as HTML,
so a rule id on a page (P7) links to what the rule requires and where it comes from.

A small renderer of the subset of Markdown the reference uses (headings with their anchors,
paragraphs, lists, tables, code, bold, emphasis and links); every character of the text is escaped
and nothing runs (the console's CSP allows no inline script or style).
"""

from __future__ import annotations

import html
import re

__all__ = ["POLICY_DOC", "policy_html"]

#: The policy reference the pages' rule ids (P7, ...) link to; in the repository, beside the code.
POLICY_DOC = "docs/policy.md"


def _policy_inline(text: str) -> str:
    """One line of the reference, escaped, with its inline marks: `code`, **bold**, *emphasis*, and
    links to an anchor (#P7) or a web address; any other link shows as its text."""
    out = []
    for i, part in enumerate(re.split(r"(`[^`]*`)", text)):
        if i % 2:
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
            continue
        part = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(part))
        part = re.sub(r"\*([^*\s][^*]*?)\*", r"<em>\1</em>", part)
        part = re.sub(r"\[([^\]]+)\]\((#[\w-]+|https?://[^)\s]+)\)", r'<a href="\2">\1</a>', part)
        out.append(re.sub(r"\[([^\]]+)\]\([^)\s]+\)", r"\1", part))
    return "".join(out)


def policy_html(markdown: str) -> str:
    """``docs/policy.md`` as a page of the console: headings keep their ``<a id="P7">`` anchors as
    ids (so ``/policy#P7`` lands on the rule), paragraphs, lists and tables; every character of the
    text is escaped and nothing runs (the console's CSP allows no inline script or style)."""
    body = []
    markdown = re.sub(r"^(#{1,6} .*)$", r"\n\1\n", markdown, flags=re.MULTILINE)  # a heading is a block
    for block in re.split(r"\n\s*\n", markdown.strip()):
        lines = block.strip().splitlines()
        if heading := re.match(r"(#{1,6}) +(?:<a id=\"([\w-]+)\"></a>)?(.*)", lines[0]):
            level, anchor, title = len(heading[1]), heading[2], heading[3].strip()
            slug = re.sub(r"[^\w\- ]", "", re.sub(r"<[^>]+>", "", title).lower()).replace(" ", "-")
            anchor = anchor or slug  # GitHub's anchor for a heading without an explicit one
            body.append(f'<h{level} id="{html.escape(anchor)}">{_policy_inline(title)}</h{level}>')
        elif lines[0].startswith("|"):
            rows = [
                [_policy_inline(cell.strip()) for cell in line.strip().strip("|").split("|")]
                for line in lines
                if not re.fullmatch(r"\|[\s:|-]+\|", line.strip())
            ]
            head = "".join(f"<th>{cell}</th>" for cell in rows[0])
            cells = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows[1:])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
        elif lines[0].startswith("- "):
            items = re.split(r"\n- ", "\n" + "\n".join(lines))[1:]
            listed = "".join(f"<li>{_policy_inline(' '.join(item.split()))}</li>" for item in items)
            body.append(f"<ul>{listed}</ul>")
        else:
            body.append(f"<p>{_policy_inline(' '.join(block.split()))}</p>")
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>ALPR policy rules P1-P28</title>\n"
        '<link rel="stylesheet" href="/static/console.css">\n</head>\n'
        '<body class="policy">\n<main>\n' + "\n".join(body) + "\n</main>\n</body>\n</html>\n"
    )

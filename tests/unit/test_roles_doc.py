"""The README's permission table is the code's (P21): a role or action changed in
streams/access/permissions.py without the README (or the other way round) fails here."""

from __future__ import annotations

from streams.access.permissions import ACTIONS, ROLES, roles_table
from tests.conftest import ROOT


def readme_table() -> str:
    """The table under "## Who may do what": its consecutive lines that start with '|'."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Who may do what\n", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| action |"))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    return "\n".join(table)


def test_the_readme_prints_the_permission_table_as_the_code_has_it() -> None:
    assert readme_table() == roles_table(), (
        "README.md's 'Who may do what' table differs from streams/access/permissions.py: "
        "paste the output of `alpr roles` there"
    )


def test_the_table_has_a_row_per_action_and_a_column_per_role() -> None:
    lines = roles_table().splitlines()
    assert len(lines) == 2 + len(ACTIONS)
    assert all(line.count("|") == len(ROLES) + 2 for line in lines)
    directory_admin = next(line for line in lines if line.startswith("| `directory.admin` |"))
    cells = [c.strip() for c in directory_admin.strip("|").split("|")[1:]]
    assert [role for role, cell in zip(ROLES, cells, strict=True) if cell == "x"] == ["administrator"]

"""The permission matrix printed in docs/security.md is the one the service enforces."""

from __future__ import annotations

from pathlib import Path

from application.security import PERMISSIONS, ROLES, permission_table

SECURITY_DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def documented_table() -> str:
    lines = SECURITY_DOC.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| action |"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "\n".join(lines[start:end])


def test_the_documented_matrix_is_what_qualtrace_permissions_prints(capsys: object) -> None:
    from qualtrace import cli

    assert cli.main(["permissions"]) == 0
    printed = capsys.readouterr().out.strip()  # type: ignore[attr-defined]
    assert printed == permission_table()
    assert documented_table() == printed, (
        "docs/security.md drifted: paste the output of `qualtrace permissions`"
    )


def test_the_table_has_a_row_per_action_and_a_column_per_role() -> None:
    rows = documented_table().splitlines()[2:]
    assert len(rows) == len(PERMISSIONS)
    for row, (action, roles) in zip(rows, PERMISSIONS.items(), strict=True):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0] == f"`{action}`"
        assert [r for r, cell in zip(ROLES, cells[1:], strict=True) if cell == "✓"] == [
            r for r in ROLES if r in roles
        ]

"""The CLI says which database it uses: the absolute data directory of the embedded
server (and that it is about to create one), or DATABASE_URL's host and database, never
its password."""

from __future__ import annotations

from pathlib import Path

import pytest

from qualtrace.commands import describe_database, first_token_hint
from qualtrace.settings import Settings


def test_a_relative_data_dir_is_resolved_once_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QUALTRACE_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings(database_url=None)
    assert settings.data_dir == tmp_path.resolve() / ".qualtrace"
    monkeypatch.chdir("/")  # later changes of directory no longer move it
    assert settings.data_dir == tmp_path.resolve() / ".qualtrace"


def test_a_missing_embedded_database_is_announced_as_new_with_its_absolute_path(
    tmp_path: Path,
) -> None:
    line = describe_database(Settings(database_url=None, data_dir=tmp_path / "d"))
    assert line.startswith("database: creating a new embedded database at ")
    assert str(tmp_path.resolve() / "d" / "pgdata") in line
    (tmp_path / "d" / "pgdata").mkdir(parents=True)
    (tmp_path / "d" / "pgdata" / "PG_VERSION").write_text("18\n")
    line = describe_database(Settings(database_url=None, data_dir=tmp_path / "d"))
    assert line == f"database: embedded PostgreSQL in {tmp_path.resolve() / 'd' / 'pgdata'}"


def test_an_external_database_is_named_without_its_password() -> None:
    line = describe_database(
        Settings(database_url="postgresql://qt_app:s3cret@db.example:6543/qualtrace")
    )
    assert "s3cret" not in line
    assert line == "database: PostgreSQL qualtrace on db.example:6543 as qt_app (DATABASE_URL)"
    hint = first_token_hint(Settings(database_url="postgresql://qt_app:s3cret@db/q"))
    assert "s3cret" not in hint and hint.endswith(
        "token create --user admin --name Admin --role admin"
    )


def test_the_first_token_hint_names_a_data_dir_other_than_the_default(tmp_path: Path) -> None:
    hint = first_token_hint(Settings(database_url=None, data_dir=tmp_path))
    assert f"QUALTRACE_DATA_DIR={tmp_path.resolve()}" in hint

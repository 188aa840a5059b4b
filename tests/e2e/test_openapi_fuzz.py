"""Schemathesis against the served OpenAPI document: for every operation, generated
requests (valid and invalid) never get a 5xx, and every response conforms to the
document (status code, content type, body schema).

Bounded for CI: a few examples per operation, one database for the module. Each
operation is called as a company-wide principal of a role the permission matrix allows,
so generated input reaches the use case rather than stopping at 403.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from application.security import PERMISSIONS
from tests.route_actions import ROUTE_ACTIONS

MAX_EXAMPLES = 5


@pytest.fixture(scope="module")
def served(pg_admin_url: str, template_db: str) -> Iterator[tuple[Any, dict[str, dict[str, str]]]]:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from api.app import create_app
    from api.tokens import TokenStore
    from qualtrace.bootstrap import bootstrap
    from qualtrace.settings import Settings

    name = f"qt_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    url = make_conninfo(**{**conninfo_to_dict(pg_admin_url), "dbname": name})
    c = bootstrap(
        Settings(database_url=url, pool_size=4, read_wait_seconds=0.2, rate_limit_per_second=0),
        setup=True,
    )
    try:
        app = create_app(c)
        store = TokenStore(url)
        tokens = {}
        for role in {r for roles in PERMISSIONS.values() for r in roles}:
            tokens[role] = {"Authorization": f"Bearer {store.create(f'{role}-1', role, role)[1]}"}
        from application.base import Call
        from application.security import Principal

        admin = Call(Principal("admin-1", "admin", "admin"), "fuzz")
        c.app.org.register_region(admin, "SH", "上海")
        c.app.org.register_project(admin, "P1", "项目一", "SH")
        c.run_projections_once()
        yield app, tokens
    finally:
        c.close()
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_no_operation_answers_5xx_or_outside_its_documented_responses(
    served: tuple[Any, Any],
) -> None:
    app, tokens = served
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # Each call carries a real token (below); a credential synthesized from the document's
    # bearer scheme would be replaced by it, turning a "missing authorization" negative case
    # into a valid request that is then expected to fail.
    schema.config.generation.update(with_security_parameters=False)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        key = f"{operation.method.upper()} {operation.path}"
        action = ROUTE_ACTIONS.get(key)
        headers = tokens[PERMISSIONS[action][0]] if action else {}
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any) -> None:
                # Schema-valid input may still be refused (an unknown project code is 422), so
                # "positive data acceptance" is not a property of this API.
                case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])  # noqa: B023 - run now

            try:
                check()
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE, (
                    key
                )  # nothing to get wrong in a request without input
            except (Exception, BaseExceptionGroup) as e:  # noqa: BLE001 - collected, reported together below
                failures.append(f"{key} ({mode.value}): {str(e)[:1500]}")
    assert operations >= 40
    assert not failures, "\n\n".join(failures)

"""Which failures answer 503 (the database is unavailable for now) rather than 500."""

from __future__ import annotations

import psycopg
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError
from psycopg import errors
from psycopg_pool import PoolTimeout

from store.availability import unavailable


def _raised_from(error: Exception, cause: Exception) -> Exception:
    try:
        try:
            raise cause
        except Exception as inner:
            raise error from inner
    except Exception as outer:
        return outer


def test_lost_refused_or_full_connections_and_pool_timeouts_mean_unavailable() -> None:
    assert unavailable(errors.AdminShutdown("terminating connection due to administrator command"))
    assert unavailable(errors.CannotConnectNow("the database system is starting up"))
    assert unavailable(errors.TooManyConnections("sorry, too many clients already"))
    assert unavailable(psycopg.OperationalError("connection refused"))
    assert unavailable(PoolTimeout("couldn't get a connection after 5.00 sec"))
    # The event store library's translations, after its own retries.
    assert unavailable(OperationalError("server closed the connection unexpectedly"))
    assert unavailable(InterfaceError("the connection is closed"))


def test_an_unavailable_database_is_found_behind_the_error_it_caused() -> None:
    wrapped = _raised_from(RuntimeError("loading the ticket failed"), errors.AdminShutdown("bye"))
    assert unavailable(wrapped)


def test_bugs_and_refused_data_are_not_unavailability() -> None:
    assert not unavailable(RuntimeError("a bug"))
    assert not unavailable(IntegrityError("duplicate key"))
    assert not unavailable(errors.UndefinedTable("relation does not exist"))
    assert not unavailable(errors.UniqueViolation("duplicate key"))
    assert not unavailable(None)

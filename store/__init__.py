"""Plumbing apart from meaning: the event store's recorder and notifier, its consumers
(source, tracking, group runner, projection generations), the database schema in one
place (`store.schema`), integrity checks, roles, tokens and background threads.

Imports `domain` at most; `application`, `projections`, `api` and `qualtrace` build on it.
"""

"""Aggregates, their events and rules. Imports nothing of ours but `domain`."""

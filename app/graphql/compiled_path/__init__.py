"""Trusted (persisted) documents: a registry by hash, and plans that answer them with one
SQL statement."""

"""The transactional outbox: every business fact as an event, committed with the change.

``recorder`` writes events (a session listener: no service calls it for the facts a row
change shows), ``facts`` decides which, ``snapshots`` renders their objects as the GraphQL
API shows them, ``log`` reads and keeps the log. Webhooks to merchants, the event bus and
live subscriptions all read from it.
"""

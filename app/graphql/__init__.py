"""The GraphQL engine: one endpoint, two paths.

``POST /graphql`` reaches :mod:`app.graphql.endpoint`, which negotiates the answer's media
type (:mod:`app.graphql.http`), authenticates the caller once and hands the operation to
one of two paths:

- ``compiled_path/``: a trusted (registered) query document whose plan compiled is answered
  by one SQL statement that writes the response's JSON in PostgreSQL;
- ``resolver_path/``: every other operation runs through the schema (:mod:`app.graphql.schema`)
  and its resolvers, on an executor that reads plain fields directly and loads batched
  fields a level at a time.

Both paths refuse the same documents (:mod:`app.graphql.limits`, :mod:`app.graphql.card_data`)
and read the same rows: ``read/`` holds the read-only records and the request's DataLoaders,
which the schema types (``app.schema``) use as well. This ``__init__`` imports nothing, so
that the read side is imported without the engine.
"""

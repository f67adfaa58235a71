"""The read side, shared by both paths and by the schema types: read-only records of rows
(``records``), the request's DataLoaders by aggregate (``loaders``), list pages read as
records (``pages``), and how the schema types' fields read (``fields``: batched fields and
the columns they read). It imports no part of the engine."""

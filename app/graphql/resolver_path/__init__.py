"""The resolver path: an operation executed through the schema and its resolvers.

``handler`` answers one operation handed over by the endpoint, ``view`` is strawberry's HTTP
view for the rest (batches, streamed answers, GraphiQL). Both execute on ``executor``: plain
fields read directly and batched fields loaded a level at a time (``batching``), as
``plans`` worked out once per field; ``lean_extensions`` runs the schema's extensions'
hooks without a context manager each.
"""

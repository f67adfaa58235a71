"""The compiled path: trusted (registered) query documents, each compiled at start-up into
one SQL statement that writes the response's ``data`` as JSON text in PostgreSQL.

``documents/`` holds the documents (``registry``), ``compiler`` makes a document's plan (or
says why the document is outside the compiled subset: the resolver path then serves it),
``sql`` writes values as the resolver path serialises them, and ``handler`` runs a plan for
an authenticated caller. Whatever a plan does not answer itself (an error to report, an
unusual variable) goes to the resolver path, which stays the reference.
"""

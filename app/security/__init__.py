"""Who is calling and what they may do: principals, credentials, the access policy, rate
limits and the audit log's input redaction. Plain Python plus PyJWT; no database access."""

"""The Query and Mutation roots: decode input and IDs, call a service, shape the payload."""

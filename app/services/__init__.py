"""Business rules, one module per capability. Callers: resolvers, webhooks, worker, CLI."""

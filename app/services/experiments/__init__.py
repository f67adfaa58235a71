"""Pricing experiments: definitions (``definitions``), the lifecycle (``lifecycle``),
what a visitor is offered and the units' assignments (``offers``), and results with
guardrails (``results``, ``guardrails``)."""

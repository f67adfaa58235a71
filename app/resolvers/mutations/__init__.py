"""Mutation roots, one module per capability, merged into ``Mutation``."""

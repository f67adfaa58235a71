"""Strawberry types, inputs, enums, scalars and errors. Imports nothing from resolvers."""

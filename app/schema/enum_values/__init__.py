"""What each value of the GraphQL enums means, one module per area: mappings from every
member of an enum to its description, given to ``app.schema.enums.described_enum`` where
the enum is registered. A new member needs its line here (the schema contract test names
the ones missing)."""

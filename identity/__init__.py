"""Who acts: proven identities, roles, local accounts and API tokens (docs/identity.md)."""

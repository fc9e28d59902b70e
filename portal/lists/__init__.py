"""The enterprise list service: a company's list matched against the pool."""

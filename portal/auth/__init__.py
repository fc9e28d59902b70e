"""Accounts: registration, login sessions, logout."""

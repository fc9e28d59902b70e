"""The organisation's own area, for its org admins: members, invitations, plan,
allowance, usage and invoices."""

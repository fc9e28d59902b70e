"""Moderation: the flags members, people, customers, entry checks and the
sweep raise, and (later) the queue and the actions that settle them."""

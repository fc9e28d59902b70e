"""RQ job functions and the worker runtime."""

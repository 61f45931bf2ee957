"""Delivery: how effects leave govflow after a command commits (the outbox, e-mail)."""

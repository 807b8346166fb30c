"""Meter sources: every dialect's messages in, minute readings out."""

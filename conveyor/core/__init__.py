"""Shared building blocks used by every domain app: errors, time windows, CSV safety."""

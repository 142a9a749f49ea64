"""Signals of the people app, so higher apps can react without people importing them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside person_merge's transaction after every relation points at the kept person.
# kwargs: keep (Person), merged_id (int).
person_merged = Signal()

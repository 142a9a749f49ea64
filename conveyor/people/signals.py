"""Signals of the people app, so higher apps can react without people importing them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside person_merge's transaction after every relation points at the kept person.
# kwargs: keep (Person), merged_id (int), by (User or None: who merged, for the audit log).
person_merged = Signal()

# Sent inside person_erase's transaction, before the person's own fields are cleared, so higher
# apps can clear the personal text of their rows (touch notes, lead contacts, …) and keep the
# numbers. kwargs: person (Person, still with its name and contacts), by (User or None: who
# erased, for the audit entries of the rows cleared).
person_erasing = Signal()

# Sent by people.privacy.person_export: each receiver returns {section name: [row dicts]} with the
# rows of its app that belong to the person (one query per section at most, whatever their
# number). kwargs: person (Person).
person_exporting = Signal()

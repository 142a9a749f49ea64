"""Leads (intake records) and the qualification questions of each segment."""

"""Signals of the intake app."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside lead_receive's transaction once a new lead is recorded and routed (never for a
# replayed idempotency key). kwargs: lead (Lead).
lead_received = Signal()

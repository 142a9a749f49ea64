"""Signals of the pipelines app, so higher apps (touches, automation) react without being imported.

Both are sent inside the service's transaction, after the history row is written: a receiver's
writes (cadence tasks, automation runs) commit or roll back with the change itself.
"""

from __future__ import annotations

from django.dispatch import Signal

# After deal_open / deal_move / deal_win / deal_lose / deal_reopen / deal_transfer.
# kwargs: deal (Deal, its new state), change (StageChange just written), by (User | None).
deal_changed = Signal()

# After deal_assign. kwargs: deal (Deal), previous_owner_id (int | None), by (User | None).
deal_assigned = Signal()

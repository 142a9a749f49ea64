"""A stage's playbook: the checklist of standard actions, read from its JSON field.

Stored as [{"text": ..., "mandatory": bool}, ...]; a plain string is an optional item, so a
checklist typed by hand (or imported) as a list of strings works too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from conveyor.core.errors import ServiceError
from conveyor.pipelines.models import Deal, PlaybookCheck, Stage

MAX_ITEM_LENGTH = 255


@dataclass(frozen=True)
class PlaybookItem:
    text: str
    mandatory: bool = False


def playbook_items(stage: Stage) -> list[PlaybookItem]:
    """The stage's checklist in order; malformed entries are left out, never raised on, so a
    bad edit in the admin cannot block every deal of the stage."""
    items: list[PlaybookItem] = []
    for entry in stage.playbook or []:
        if isinstance(entry, str) and entry.strip():
            items.append(PlaybookItem(entry.strip()))
        elif isinstance(entry, dict) and str(entry.get("text", "")).strip():
            items.append(PlaybookItem(str(entry["text"]).strip(), bool(entry.get("mandatory"))))
    return items


@dataclass(frozen=True)
class PlaybookEntry:
    text: str
    mandatory: bool
    checked: bool


def playbook_state(deal: Deal, *, mandatory_only: bool = False) -> list[PlaybookEntry]:
    """The checklist of the deal's current stage with what is ticked for this deal: one query,
    none when there is nothing to look up (the move and win services ask for mandatory items
    only, on every forward move)."""
    items = [item for item in playbook_items(deal.stage) if item.mandatory or not mandatory_only]
    if not items:
        return []
    ticked = set(
        PlaybookCheck.objects.filter(deal=deal, stage_id=deal.stage_id).values_list(
            "item", flat=True
        )
    )
    return [PlaybookEntry(item.text, item.mandatory, item.text in ticked) for item in items]


def playbook_clean(lines: str) -> list[dict[str, Any]]:
    """Parse the settings form's textarea: one item per line, a leading `!` makes it mandatory."""
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    for line in lines.splitlines():
        text = line.strip()
        mandatory = text.startswith("!")
        text = text.lstrip("!").strip()
        if not text:
            continue
        if len(text) > MAX_ITEM_LENGTH:
            raise ServiceError(
                _("A playbook item is longer than %(n)s characters.") % {"n": MAX_ITEM_LENGTH},
                field="playbook",
            )
        if text in seen:
            raise ServiceError(
                _("The item '%(text)s' is listed twice.") % {"text": text}, field="playbook"
            )
        seen.add(text)
        items.append({"text": text, "mandatory": mandatory})
    return items

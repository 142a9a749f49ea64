"""People (the buyers: we sell to people) and their companies."""

"""Users, roles, teams, sales plans, and the one access rule (permissions.py)."""

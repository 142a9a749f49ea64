"""Touches (warming and closing), tasks (planned touches) and cadences."""

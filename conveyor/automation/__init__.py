"""Automation rules: triggers on pipelines and stages that run actions (the digital pipeline)."""

"""Conveyor: a self-hosted sales CRM built around the sales conveyor (LG -> LC -> AM)."""

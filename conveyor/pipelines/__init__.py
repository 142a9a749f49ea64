"""Segments, pipelines, stages, deals, their stage history and the loss-reason catalogue."""

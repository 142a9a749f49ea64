"""One module per report, each defining `REPORT` (see conveyor.analytics.reports)."""

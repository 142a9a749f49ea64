"""Reports (queries.py, one function per report), expenses and hypotheses."""

"""The benchmark: generate a dataset, import it into fresh SQLite and PostgreSQL databases, time
the importer against a bare bulk insert of the same rows, and time the funnel report.

`python -m bench.run --deals N` is the entry point; `bench.run_one` is what it runs per database.
"""

"""The server-rendered web UI: thin views over services and selectors."""

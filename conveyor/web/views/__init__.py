"""Web views, one module per domain. Each parses input, calls one service or selector, renders."""

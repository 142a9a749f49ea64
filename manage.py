#!/usr/bin/env python
"""Same as the installed `conveyor` command; kept for Django tooling that looks for manage.py."""

from __future__ import annotations

from conveyor.cli import main

if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Django's command-line entry point for StockHub."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stockhub.settings")
    from stockhub.config import ConfigError

    try:
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
    except ConfigError as error:
        # A wrong setting is the operator's to fix: one line that names it, not a traceback.
        sys.stderr.write(f"stockhub: configuration error: {error}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()

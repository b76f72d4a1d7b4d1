#!/usr/bin/env python
"""Django's command-line entry point for StockHub."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stockhub.settings")
    from django.db import OperationalError

    from stockhub.config import ConfigError

    try:
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
    except ConfigError as error:
        # A wrong setting is the operator's to fix: one line that names it, not a traceback.
        sys.stderr.write(f"stockhub: configuration error: {error}\n")
        sys.exit(2)
    except OperationalError:
        # The same goes for a database nobody answers on; any other database error keeps its traceback.
        from django.conf import settings

        from stockhub.preflight import Problem, check_database

        try:
            check_database(settings)
        except Problem as problem:
            sys.stderr.write(f"stockhub: {problem}\n")
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()

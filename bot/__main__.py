"""`python -m bot` works like `textwire`."""

from bot.cli import main

raise SystemExit(main())

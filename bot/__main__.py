"""`python -m bot` works like `textwire`."""

from bot.app.cli import main

raise SystemExit(main())

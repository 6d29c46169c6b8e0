"""`python -m bot` is the `partybot` command."""

from bot.cli import main

raise SystemExit(main())

"""`python -m cockpit` is the `cockpit` command (the supervisor is started this way)."""

from cockpit.cli import main

raise SystemExit(main())

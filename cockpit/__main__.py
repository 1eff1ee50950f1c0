"""`python -m cockpit` is the `cockpit` command (the supervisor is started this way)."""

from cockpit.entry import main

raise SystemExit(main())

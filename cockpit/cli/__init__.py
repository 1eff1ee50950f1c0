"""The `cockpit` command line: the parser, the commands, and the fast paths (`runs --json`, `status
--tmux`) that import neither Textual nor pydantic.
"""

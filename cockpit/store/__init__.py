"""The run store (SQLite, its migrations and queries), the supervisor lock, waking the supervisor,
and tailing the mirrored logs: what every process shares on disk.
"""

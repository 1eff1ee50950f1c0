"""Presentational Textual widgets: they show what they are given and post messages.

Nothing here knows about the store, the supervisor or any backend; the application feeds these
widgets plain data and reacts to their messages.
"""

"""The pure parts: plan files, records and protocol words, config, health rules, log parsing. No
I/O beyond the files they are handed; imports no other cockpit sub-package.
"""

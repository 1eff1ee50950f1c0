"""cockpit: a keyboard-driven terminal cockpit for ML training runs on rented GPUs.

The application package: CLI, config, plan files, the run store, the supervisor process, health
rules, and the Textual app with its screens. See DESIGN.md for how the pieces fit.
"""

__version__ = "0.1.0"

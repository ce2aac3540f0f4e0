"""The ``retouch`` command: the one place that composes engine, app and models.

``engine/``, ``app/`` and ``models/`` never import each other upward (see the import contracts
in pyproject.toml); this package is the composition root that may reach all three, and it
imports the app (Qt) and the models (torch) only for the subcommands that need them.
"""

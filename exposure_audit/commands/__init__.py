"""One module per subcommand; each has ``register(subparsers)`` and ``run(args) -> int``.

Every argparse definition lives here: options.py holds options shared by several
subcommands (collection, rules and waivers), cron.py the history, cron and webhook
options of ``run``. The stages below take typed options, never ``argparse.Namespace``.
"""

"""The firewall evaluator (pure): `evaluate` walks a packet through the ruleset,
`annotate` gives exposures their verdicts, `published` handles container publishing."""

"""Firewall verdicts: evaluate (ruleset, packet -> verdict), annotate, published."""

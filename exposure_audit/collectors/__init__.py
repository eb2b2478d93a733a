"""Collectors: the only code that touches the machine or the LAN."""

"""Pure stages over Facts: exposure resolution, firewall evaluation, the rules engine."""

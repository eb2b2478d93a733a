"""Running unattended: history, diff, schedule, webhook, the run lock."""

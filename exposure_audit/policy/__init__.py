"""Policy as validated data: rule files, the port catalogue, their conditions, the config file."""

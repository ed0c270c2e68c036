"""Platform-independent bot logic: engine client, commands, limits, hooks."""

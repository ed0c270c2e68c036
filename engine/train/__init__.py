"""Training: one loop for every family, configs, visuals, data parallelism."""

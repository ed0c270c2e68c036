"""The engine's HTTP service: API, micro-batching, hot reload, fine-tune jobs, metrics."""

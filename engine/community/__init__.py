"""A community's own model: its pictures, data set, training chunks and versions, kept apart."""

"""The upscale-and-restore stage: 128px generator output -> a crisp 512px mascot."""

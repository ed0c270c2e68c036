"""Data sets in one on-disk training format (see dataset.py) and the commands that build them."""

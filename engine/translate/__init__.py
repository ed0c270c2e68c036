"""Unpaired image-to-image translation (CycleGAN) between two data set folders."""

"""Tests of the stoppers, on real processes, sessions and stand-in SLURM commands."""

"""Rendering verdicts for people: terminal tables now, Markdown reports to follow."""

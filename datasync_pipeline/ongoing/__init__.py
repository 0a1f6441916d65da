"""Ongoing sync after the first one (rule 9): noticing cheaply that either side changed since its watermark."""

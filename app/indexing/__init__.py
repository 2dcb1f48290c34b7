"""Scan folders, plan what changed, and run the decode-once pipeline (fast pass, then region pass)."""

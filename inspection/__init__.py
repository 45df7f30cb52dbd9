"""Automatic inspection: checks, inspection plans, conditions."""

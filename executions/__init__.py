"""Driving plan executions: the one service every caller uses (executions/service.py)."""

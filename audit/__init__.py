"""Auditing executions: the report from history and database, the history archive and
its hash chain, replaying histories against this code."""

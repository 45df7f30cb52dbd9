"""The alert intake: webhooks from monitoring start self-recovery plans."""

"""Plans: the plan document (file and API format), its validation, and storing it."""

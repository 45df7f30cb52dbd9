"""The risk dashboard's queries and people's actions on risk events (shelve, resolve...)."""

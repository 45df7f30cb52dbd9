"""The operator console: the risk dashboard and the pages to act, served by the API."""

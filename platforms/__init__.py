"""Clients of the customer's platforms (httpx): the only code that speaks their APIs."""

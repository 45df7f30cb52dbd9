"""A simulator of the customer's platforms, served over HTTP for the demo and the tests."""

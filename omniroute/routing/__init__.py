"""Routing: model resolution, account and combo strategies, account health."""

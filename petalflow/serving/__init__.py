"""Serving: the app factory, transport-free handlers, HTTP layer, loading and prediction."""

"""The HTTP API: routers of about one resource each (``events``, ``shipments``,
``dead_letters``, ``ops``), API keys and their scopes (``keys``, ``auth``), SigV4,
and the middleware. ``shipline.server.app.create_app`` puts them together.

This package imports nothing itself, so that the commands which only need API
keys start without loading the web stack.
"""

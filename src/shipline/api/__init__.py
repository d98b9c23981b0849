"""``shipline serve``: the HTTP ingestion service, its API keys and its processor.

The app is ``shipline.api.app.create_app``. This package imports nothing itself, so
that the commands which only need API keys start without loading the web stack.
"""

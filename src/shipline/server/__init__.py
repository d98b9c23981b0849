"""The composition root of ``shipline serve``: one ``Pipeline``, the background
workers (group commit, event-driven processor with the nightly base, monitor) and
the HTTP routers of the API and the dashboard, put together in ``create_app``."""

"""The web dashboard served at ``/`` by ``shipline serve``: the pipeline as a live
diagram, a shipment explorer, metrics and alerts, and "how it works" on real data.

Everything it needs ships in this package (``static/``); nothing loads from a CDN.
"""

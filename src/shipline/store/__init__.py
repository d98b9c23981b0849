"""Storage: backends (one small class per engine) and numbered migrations."""

from shipline.store.backend import Backend, open_backend

__all__ = ["Backend", "open_backend"]

"""The timeline engine: daily base, incremental runs, the real-time view, verify."""

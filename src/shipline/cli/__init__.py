"""The command line: typer and rich. The only place that writes to the terminal."""

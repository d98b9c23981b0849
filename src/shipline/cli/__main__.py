"""``python -m shipline.cli``: the same as the ``shipline`` command."""

from shipline.cli.main import main

main()

"""``python -m celeriac``: the command line."""

from celeriac.cli.main import main

main(prog_name="celeriac")

"""The ``celeriac`` command line: one thin module per command."""

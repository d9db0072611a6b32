"""Subcommands of the ``mlxquant`` command line (see :mod:`mlxquant.cli`)."""

__all__: list[str] = []

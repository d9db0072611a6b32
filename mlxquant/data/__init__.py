"""Embedded demo data: sample photos (public domain / CC0, see README.txt) and a model built by tools/."""

__all__: list[str] = []

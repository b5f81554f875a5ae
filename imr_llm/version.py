"""The package version, in a module of its own so that any module can stamp it without
importing the package root (which imports the API, which imports everything)."""

__version__ = "0.1.0"

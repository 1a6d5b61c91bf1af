"""pkgate: a package registry gateway that records every request without keeping personal data."""

__version__ = "0.1.0"

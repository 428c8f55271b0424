"""bascule: an API gateway that runs Tyk's configuration."""

__version__ = "0.1.0"

"""labeld: a print-server daemon for thermal shipping labels."""

__version__ = "0.1.0"

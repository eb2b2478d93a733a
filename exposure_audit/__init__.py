"""exposure-audit: which services on this machine can someone other than me reach?"""

__version__ = "0.1.0"

"""The sandbox as an HTTP service (``python -m servers.sandbox``) over the :mod:`sandbox` library."""

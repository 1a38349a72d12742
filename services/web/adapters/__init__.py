"""Adapters of the web app's ports: HTTP to the staff APIs, in-memory fakes and sessions."""

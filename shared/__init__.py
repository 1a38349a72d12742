"""Code shared by the four services: wire contracts and infrastructure helpers, no business rules."""

"""Identity: the directory, the built-in token issuer, token validation and role checks."""

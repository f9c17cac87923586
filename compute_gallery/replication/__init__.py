"""Replication: each version's package fetched from its source and copied to its regions."""

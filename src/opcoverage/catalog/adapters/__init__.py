"""Binding adapters: small functions that map a catalog sample onto a framework call where a rename is not enough."""

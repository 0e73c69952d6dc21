"""Mutable files (SDMF and MDMF): keys, share layout, encoding, and the
networked publish/retrieve protocol built on them (docs/specifications/mutable-shares.md)."""

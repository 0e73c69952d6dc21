"""Mutable files (SDMF and MDMF): keys, share layout, encoding, and the
networked publish/retrieve protocol built on them (FORMATS.md §6)."""

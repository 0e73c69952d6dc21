"""Immutable (CHK and LIT) files: upload, encoding, share layout, download."""

"""Cryptographic building blocks of the storage formats.

Only what the formats of docs/specifications/ need lives here: AES-128-CTR for file
contents (:mod:`allmydata.crypto.aes`).  Hashes are in
:mod:`allmydata.util.hashutil`.
"""

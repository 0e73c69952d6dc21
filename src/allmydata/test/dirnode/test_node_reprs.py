"""Nodes' reprs (which end up in log lines) name the kind of cap and the
storage index, never the cap itself."""

import re

from allmydata import uri
from allmydata.util import base32

KEY = bytes(range(16))
FINGERPRINT = bytes(range(32))


def test_reprs_of_mutable_files_and_directories_hold_no_key(client):
    ssk = uri.WriteableSSKFileURI(KEY, FINGERPRINT)
    mdmf = uri.WriteableMDMFFileURI(KEY, FINGERPRINT)
    caps = [ssk, ssk.get_readonly(), mdmf, mdmf.get_readonly(),
            uri.DirectoryURI(ssk), uri.ReadonlyDirectoryURI(ssk.get_readonly()),
            uri.MDMFDirectoryURI(mdmf), uri.ReadonlyMDMFDirectoryURI(mdmf.get_readonly())]
    secrets = {base32.b2a(KEY).decode()[:6], base32.b2a(ssk.readkey).decode()[:6]}
    for cap in caps:
        node = client.create_node_from_uri(cap.to_string())
        text = repr(node)
        kind = cap.PREFIX.decode().rstrip(":")
        si = base32.b2a(cap.get_storage_index()).decode()[:10]
        assert kind in text and "SI=" + si in text, text
        assert not any(s in text for s in secrets), text
        assert not re.search(r"URI:[A-Z0-9-]+:[a-z0-9]", text), text

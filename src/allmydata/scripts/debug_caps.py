"""``tahoe debug dump-cap``: what a cap holds, in Tahoe-LAFS 1.20's words.

The cap is parsed by :mod:`allmydata.uri`; the lease secrets and the write
enabler a client would send a given storage server are derived with
:mod:`allmydata.util.hashutil`, from the client's lease secret
(``--client-secret``, or ``private/secret`` of ``--client-dir``) and the
server's nodeid (``--nodeid``).  Everything goes to the operator's terminal
(that is the tool's purpose); nothing is logged.
"""

import os
from urllib.parse import unquote, urlparse

from .. import uri
from ..uri_interfaces import IDirnodeURI
from ..util import base32, hashutil
from ..util.idlib import nodeid_a2b
from .quoting import quote_output


class CapError(Exception):
    """A cap, nodeid or secret that cannot be used."""


def _b32(data: bytes) -> str:
    return base32.b2a_str(data)


def parse_nodeid(text):
    try:
        return nodeid_a2b(text.strip().lower())
    except ValueError as e:
        raise CapError("--nodeid %r is not a storage server's nodeid (32 base32 characters): %s"
                       % (text, e))


def lease_secret_from(client_secret=None, client_dir=None):
    """The client's lease secret (bytes), or None when neither is given."""
    if client_secret:
        try:
            return base32.a2b(client_secret.strip())
        except ValueError as e:
            raise CapError("--client-secret is not base32: %s" % e)
    if client_dir:
        path = os.path.join(client_dir, "private", "secret")
        try:
            with open(path, "rb") as f:
                text = f.read().strip()
        except OSError as e:
            raise CapError("cannot read the client's lease secret from %s: %s"
                           % (path, e.strerror or e))
        try:
            return base32.a2b(text)
        except ValueError as e:
            raise CapError("%s does not hold a base32 lease secret: %s" % (path, e))
    return None


def cap_from_argument(text):
    """The cap in ``text``: a cap, or a web-API URL ``http...://.../uri/CAP``."""
    if text.startswith("http"):
        path = urlparse(text).path
        if not path.startswith("/uri/"):
            raise CapError("the URL %s does not name a cap (its path does not start with /uri/)"
                           % text)
        text = unquote(path[len("/uri/"):]).split("/", 1)[0]
    try:
        cap = uri.from_string(text)
    except (uri.URIError, ValueError) as e:
        raise CapError("not a valid cap: %s" % e)
    if isinstance(cap, uri.UnknownURI):
        raise CapError("not a cap this version knows (caps start with URI:CHK:, URI:LIT:, "
                       "URI:SSK:, URI:MDMF:, URI:DIR2... and their -RO/-Verifier forms)")
    return cap


# the lease secrets, each derived from the one before: the client's, the
# file's, and (given a server) the lease's on that server
_LEASE_SECRET_CHAINS = (
    ("renewal", hashutil.my_renewal_secret_hash, hashutil.file_renewal_secret_hash,
     hashutil.bucket_renewal_secret_hash),
    ("cancel", hashutil.my_cancel_secret_hash, hashutil.file_cancel_secret_hash,
     hashutil.bucket_cancel_secret_hash),
)


def _dump_secrets(storage_index, secret, nodeid, out):
    if not secret:
        return
    for name, client_hash, file_hash, lease_hash in _LEASE_SECRET_CHAINS:
        client_secret = client_hash(secret)
        print(" client %s secret:" % name, _b32(client_secret), file=out)
        file_secret = file_hash(client_secret, storage_index)
        print(" file %s secret:" % name, _b32(file_secret), file=out)
        if nodeid:
            print(" lease %s secret:" % name, _b32(lease_hash(file_secret, nodeid)), file=out)


def _storage_index(u) -> str:
    return _b32(u.get_storage_index())


#: headings, as Tahoe-LAFS prints them; a directory's heading is followed by
#: the lines of the file cap inside it
_HEADINGS = [
    (uri.CHKFileURI, "CHK File:"),
    (uri.CHKFileVerifierURI, "CHK Verifier URI:"),
    (uri.LiteralFileURI, "Literal File URI:"),
    (uri.WriteableMDMFFileURI, "MDMF Writeable URI:"),
    (uri.ReadonlyMDMFFileURI, "MDMF Read-only URI:"),
    (uri.MDMFVerifierURI, "MDMF Verifier URI:"),
    (uri.WriteableSSKFileURI, "SDMF Writeable URI:"),
    (uri.ReadonlySSKFileURI, "SDMF Read-only URI:"),
    (uri.SSKVerifierURI, "SDMF Verifier URI:"),
    (uri.ImmutableDirectoryURI, "CHK Directory URI:"),
    (uri.ImmutableDirectoryURIVerifier, "CHK Directory Verifier URI:"),
    (uri.LiteralDirectoryURI, "Literal Directory URI:"),
    (uri.DirectoryURI, "Directory Writeable URI:"),
    (uri.ReadonlyDirectoryURI, "Directory Read-only URI:"),
    (uri.DirectoryURIVerifier, "Directory Verifier URI:"),
    (uri.MDMFDirectoryURI, "Directory Writeable URI:"),
    (uri.ReadonlyMDMFDirectoryURI, "Directory Read-only URI:"),
    (uri.MDMFDirectoryURIVerifier, "Directory Verifier URI:"),
]


def dump_uri_instance(u, nodeid, secret, out, show_header=True) -> None:
    # exact classes: the MDMF caps are subclasses of the SDMF ones
    heading = dict(_HEADINGS).get(type(u))
    if heading is None:
        print("unknown cap type", file=out)
        return
    if show_header:
        print(heading, file=out)
    p = lambda *a: print(*a, file=out)  # noqa: E731
    if IDirnodeURI.providedBy(u):
        dump_uri_instance(u.get_filenode_cap(), nodeid, secret, out, False)
    elif type(u) is uri.CHKFileURI:
        p(" key:", _b32(u.key))
        p(" UEB hash:", _b32(u.uri_extension_hash))
        p(" size:", u.size)
        p(" k/N: %d/%d" % (u.needed_shares, u.total_shares))
        p(" storage index:", _storage_index(u))
        _dump_secrets(u.get_storage_index(), secret, nodeid, out)
    elif type(u) is uri.CHKFileVerifierURI:
        p(" UEB hash:", _b32(u.uri_extension_hash))
        p(" size:", u.size)
        p(" k/N: %d/%d" % (u.needed_shares, u.total_shares))
        p(" storage index:", _storage_index(u))
    elif type(u) is uri.LiteralFileURI:
        p(" data:", quote_output(u.data))
    elif type(u) in (uri.WriteableSSKFileURI, uri.WriteableMDMFFileURI):
        p(" writekey:", _b32(u.writekey))
        p(" readkey:", _b32(u.readkey))
        p(" storage index:", _storage_index(u))
        p(" fingerprint:", _b32(u.fingerprint))
        p()
        if nodeid:
            p(" write_enabler:", _b32(hashutil.ssk_write_enabler_hash(u.writekey, nodeid)))
            p()
        _dump_secrets(u.get_storage_index(), secret, nodeid, out)
    elif type(u) in (uri.ReadonlySSKFileURI, uri.ReadonlyMDMFFileURI):
        p(" readkey:", _b32(u.readkey))
        p(" storage index:", _storage_index(u))
        p(" fingerprint:", _b32(u.fingerprint))
    else:  # the SDMF and MDMF verify caps
        p(" storage index:", _storage_index(u))
        p(" fingerprint:", _b32(u.fingerprint))


def dump_cap(text, out, nodeid=None, client_secret=None, client_dir=None) -> None:
    """``tahoe debug dump-cap``: raises :class:`CapError` for a bad argument."""
    node = parse_nodeid(nodeid) if nodeid else None
    secret = lease_secret_from(client_secret, client_dir)
    cap = cap_from_argument(text)
    print(file=out)
    dump_uri_instance(cap, node, secret, out)

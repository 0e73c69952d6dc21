"""``tahoe admin``: node key tools.

``tahoe admin generate-keypair`` prints a new Ed25519 key pair and
``tahoe admin derive-pubkey PRIVKEY`` prints the pair whose private key is
PRIVKEY, both as two lines::

    private: priv-v0-...
    public: pub-v0-...

in the text form of :mod:`allmydata.crypto.ed25519` (the form of
``private/node.privkey``), so keys pass between this ``tahoe`` and
Tahoe-LAFS's in either direction.
"""

import sys

from ..crypto import ed25519
from .common import UsageError


def register(sub):
    p = sub.add_parser("admin", help="Tools for node administrators.",
                       description="Tools for node administrators.")
    admin_sub = p.add_subparsers(dest="admin_command", metavar="SUBCOMMAND")
    p.set_defaults(func=_no_subcommand, admin_parser=p)

    g = admin_sub.add_parser("generate-keypair",
                             help="Generate a public/private keypair, write to stdout.",
                             description="Generate an Ed25519 public/private keypair and "
                                         "print it to stdout as two lines of ASCII.")
    g.set_defaults(func=generate_keypair)

    d = admin_sub.add_parser("derive-pubkey", help="Derive a public key from a private key.",
                             description="Given a private (signing) key made by "
                                         "generate-keypair, print it and its public key.")
    d.add_argument("privkey", metavar="PRIVKEY", help="a private key, priv-v0-...")
    d.set_defaults(func=derive_pubkey)


def _no_subcommand(options) -> int:
    options.admin_parser.print_help(sys.stderr)
    return 1


def _print_pair(priv, pub, out) -> None:
    print("private:", ed25519.private_key_to_string(priv).decode("ascii"), file=out)
    print("public:", ed25519.public_key_to_string(pub).decode("ascii"), file=out)


def generate_keypair(options, out=None) -> int:
    priv, pub = ed25519.generate_keypair()
    _print_pair(priv, pub, out or sys.stdout)
    return 0


def derive_pubkey(options, out=None) -> int:
    try:
        priv, pub = ed25519.private_key_from_string(options.privkey)
    except ed25519.BadKeyError as e:
        raise UsageError(str(e)) from None
    _print_pair(priv, pub, out or sys.stdout)
    return 0

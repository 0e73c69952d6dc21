"""Client.create_node_from_uri and the secret holder."""

import pytest

from allmydata.client import Client, SecretHolder
from allmydata.immutable.filenode import ImmutableFileNode
from allmydata.immutable.literal import LiteralFileNode
from allmydata.storage_client import StorageFarmBroker
from allmydata.unknown import UnknownNode
from allmydata.uri import BadURIError
from allmydata.util import hashutil

CHK = (b"URI:CHK:yzxcoagbetwet65ltjpbqyli3m:"
       b"6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:1:1:56")
SSK = b"URI:SSK:fs6ul2fju2fvb2cfx7gt6ngycm:hncpinwszbggrurbvuaaexnftk3j5wfr7473pj2g734mo2isxlbq"


@pytest.fixture
def client():
    return Client(StorageFarmBroker.from_rrefs([]), SecretHolder(b"s" * 32, b"c" * 32),
                  {"k": 3, "happy": 7, "n": 10, "max_segment_size": 1 << 20})


def test_node_kinds(client):
    lit = client.create_node_from_uri(b"URI:LIT:nbswy3dp")
    assert isinstance(lit, LiteralFileNode) and lit.get_size() == 5
    chk = client.create_node_from_uri(CHK.decode())
    assert isinstance(chk, ImmutableFileNode) and chk.get_size() == 56
    assert chk.get_uri() == CHK and chk.is_readonly() and not chk.is_mutable()
    for cap in (b"URI:NEW-KIND-FROM-THE-FUTURE:xyz", b"not a cap at all",
                (b"URI:SSK-Verifier:65ruo2zytr3uxnaxkptdoqkth4:"
                 b"hncpinwszbggrurbvuaaexnftk3j5wfr7473pj2g734mo2isxlbq")):
        node = client.create_node_from_uri(cap)
        assert isinstance(node, UnknownNode) and node.get_uri() == cap
    # an unknown cap alleged read-only is kept, as a read cap
    node = client.create_node_from_uri(None, b"ro.URI:NEW-KIND:abc")
    assert node.get_readonly_uri() == b"ro.URI:NEW-KIND:abc" and node.get_write_uri() is None


def test_directory_nodes(client):
    from allmydata.dirnode import DirectoryNode
    empty = client.create_node_from_uri("URI:DIR2-LIT:")
    assert isinstance(empty, DirectoryNode)
    assert empty.is_readonly() and not empty.is_mutable()
    chkdir = client.create_node_from_uri(b"URI:DIR2-CHK:" + CHK[len(b"URI:CHK:"):])
    assert isinstance(chkdir, DirectoryNode)
    assert chkdir.get_uri() == b"URI:DIR2-CHK:" + CHK[len(b"URI:CHK:"):]
    assert chkdir.get_filenode().get_uri() == CHK


def test_client_has_a_nodemaker_with_the_configured_format():
    c = Client(StorageFarmBroker.from_rrefs([]), SecretHolder(b"s" * 32, b"c" * 32),
               {"k": 1, "happy": 1, "n": 1, "max_segment_size": 1 << 20}, mutable_format="mdmf")
    assert c.nodemaker.mutable_format == "mdmf"
    assert c.nodemaker.uploader is c.uploader
    assert c.nodemaker.encoding_params["k"] == 1


def test_malformed_known_cap_is_refused(client):
    with pytest.raises(BadURIError):
        client.create_node_from_uri(CHK.replace(b":1:1:", b":2:1:"))


def test_secret_holder():
    h = SecretHolder(b"L" * 32, b"C" * 16)
    assert h.get_renewal_secret() == hashutil.my_renewal_secret_hash(b"L" * 32)
    assert h.get_cancel_secret() == hashutil.my_cancel_secret_hash(b"L" * 32)
    assert h.get_convergence_secret() == b"C" * 16

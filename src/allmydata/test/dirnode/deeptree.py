"""A directory tree with every kind of node, for the deep-traversal tests.

::

    root (SDMF directory)
      chk       CHK file
      future    unknown cap
      lit       LIT file
      mdmf      MDMF file
      sdmf      SDMF file
      sub/      MDMF directory
        again   -> the same CHK file as root/chk (reported once)
        imm/    immutable (CHK) directory: chk (root/chk again), chk2, lit2
        litdir/ LIT directory (empty)
        litdir2 -> the same LIT directory (LIT: reported at each path)
        ro_sub  -> sub itself, read-only (a cycle)
        up      -> root (a cycle)

:func:`expected_walk` is the walk the tests expect, written out by hand from
this picture; :func:`reference_walk` computes one independently by reading
the directories one at a time; :func:`expected_stats` computes the deep-stats
from the picture and the sizes of the data.
"""

import attr

from allmydata.dirnode import DirectoryNode
from allmydata.immutable.upload import Data

BIG = b"a CHK file in the deep tree, too long for a LIT cap. " * 40
BIG2 = b"another CHK file, of another size. " * 97
TINY = b"tiny"
TINY2 = b"tiny two!"
SDMF_DATA = b"SDMF contents " * 5
MDMF_DATA = b"MDMF contents " * 9
FUTURE_RW = b"x-future-rw:deep"
FUTURE_RO = b"ro.x-future-ro:deep"

# Tahoe-LAFS's histogram buckets up to 10,000 bytes
BUCKETS = [(0, 0), (1, 3), (4, 10), (11, 31), (32, 100), (101, 316), (317, 1000),
           (1001, 3162), (3163, 10000)]


@attr.s
class Tree:
    root = attr.ib()
    nodes = attr.ib()       # name -> node (root, sub, imm, litdir, chk, chk2, lit, lit2, ...)


async def upload(client, data):
    results = await client.upload(Data(data, client.get_convergence_secret()))
    return client.create_node_from_uri(results.get_uri())


async def build_tree(client) -> Tree:
    chk = await upload(client, BIG)
    chk2 = await upload(client, BIG2)
    lit = await upload(client, TINY)
    lit2 = await upload(client, TINY2)
    sdmf = await client.create_mutable_file(SDMF_DATA, version="sdmf")
    mdmf = await client.create_mutable_file(MDMF_DATA, version="mdmf")
    imm = await client.create_immutable_dirnode({"chk": chk, "chk2": chk2, "lit2": lit2})
    litdir = await client.create_immutable_dirnode({})
    root = await client.create_dirnode(version="sdmf")
    sub = await client.create_dirnode(version="mdmf")
    await sub.set_nodes({"again": chk, "imm": imm, "litdir": litdir, "litdir2": litdir})
    await sub.set_uri("ro_sub", None, sub.get_readonly_uri())
    await sub.set_uri("up", root.get_uri(), root.get_readonly_uri())
    await root.set_nodes({"chk": chk, "lit": lit, "mdmf": mdmf, "sdmf": sdmf, "sub": sub})
    await root.set_uri("future", FUTURE_RW, FUTURE_RO)
    nodes = dict(root=root, sub=sub, imm=imm, litdir=litdir, chk=chk, chk2=chk2, lit=lit,
                 lit2=lit2, sdmf=sdmf, mdmf=mdmf)
    return Tree(root, nodes)


def expected_walk(tree: Tree) -> list:
    """[(path, node or cap)] in the order of the walk (Tahoe-LAFS's order:
    a directory, its unknown children, its files, its subdirectories)."""
    n = tree.nodes
    return [
        ((), n["root"]),
        (("future",), FUTURE_RW),
        (("chk",), n["chk"]), (("lit",), n["lit"]), (("mdmf",), n["mdmf"]),
        (("sdmf",), n["sdmf"]),
        (("sub",), n["sub"]),
        (("sub", "imm"), n["imm"]),
        (("sub", "imm", "chk2"), n["chk2"]), (("sub", "imm", "lit2"), n["lit2"]),
        (("sub", "litdir"), n["litdir"]),
        (("sub", "litdir2"), n["litdir"]),
    ]


def cap_of(x) -> bytes:
    return x if isinstance(x, bytes) else x.get_uri()


async def reference_walk(root) -> list:
    """[(path, node)] by reading one directory at a time, depth first, each
    object (by verify cap) once; LIT and unknown objects at every path."""
    out = []
    seen = {root.get_verify_cap().to_string()}

    async def walk(dirnode, path):
        children = await dirnode.list()
        names = sorted(children)
        unknown = [n for n in names if children[n][0].is_unknown()]
        rest = []
        for name in names:
            node = children[name][0]
            if node.is_unknown():
                continue
            v = node.get_verify_cap()
            if v is not None:
                if v.to_string() in seen:
                    continue
                seen.add(v.to_string())
            rest.append(name)
        files = [n for n in rest if not isinstance(children[n][0], DirectoryNode)]
        dirs = [n for n in rest if isinstance(children[n][0], DirectoryNode)]
        for name in unknown + files:
            out.append((path + (name,), children[name][0]))
        for name in dirs:
            out.append((path + (name,), children[name][0]))
            await walk(children[name][0], path + (name,))

    out.append(((), root))
    await walk(root, ())
    return out


def bucket_of(size):
    for lo, hi in BUCKETS:
        if lo <= size <= hi:
            return (lo, hi)
    raise AssertionError(size)


async def expected_stats(tree):
    n = tree.nodes
    dir_sizes = [len(await n["root"].get_filenode().download_best_version()),
                 len(await n["sub"].get_filenode().download_best_version()),
                 len(await n["imm"].get_filenode().download_to_data()),
                 0, 0]      # the LIT directory, at two paths
    hist = {}
    for size in (len(BIG), len(BIG2), len(TINY), len(TINY2)):
        hist[bucket_of(size)] = hist.get(bucket_of(size), 0) + 1
    return {
        "api-version": 1,
        "count-immutable-files": 2, "count-mutable-files": 2, "count-literal-files": 2,
        "count-files": 6, "count-directories": 5, "count-unknown": 1,
        "size-immutable-files": len(BIG) + len(BIG2),
        "size-literal-files": len(TINY) + len(TINY2),
        "size-directories": sum(dir_sizes), "largest-directory": max(dir_sizes),
        "largest-directory-children": 6,
        "largest-immutable-file": max(len(BIG), len(BIG2)),
        "size-files-histogram": [(lo, hi, c) for (lo, hi), c in sorted(hist.items())],
    }

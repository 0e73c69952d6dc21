"""What a deep-check found, and the web API's JSON for every deep operation.

:class:`DeepCheckResults` (deep-check) and :class:`DeepCheckAndRepairResults`
(deep-check with repair) collect the per-object results of a traversal:
counters, the corrupt shares found, every object's results by path and by
storage index (for the web's per-object pages), the unhealthy objects with
their paths, the directories that could not be read, and the deep-stats.
A LIT file or directory (nothing on any server) and an unknown node have no
results and are not counted as checked, as in Tahoe-LAFS.

The ``*_json`` functions give the JSON of Tahoe-LAFS 1.20's
``/operations/$HANDLE?t=status&output=JSON`` for each kind of operation,
from the operation's :class:`~allmydata.monitor.Monitor`; the ``*_unit``
functions give one line's object of ``t=stream-deep-check`` and
``t=stream-manifest``.  All return plain JSON-ready values (str, never bytes).
"""

from .check_results import check_and_repair_json, check_results_json
from .dirnode_interfaces import IDirectoryNode
from .util import base32


def _b32(storage_index) -> str:
    return base32.b2a(storage_index).decode("ascii")


def _text(cap):
    """A cap as str (None stays None: JSON null, as Tahoe-LAFS writes it)."""
    if cap is None:
        return None
    if isinstance(cap, bytes):
        return cap.decode("utf-8")
    return cap


def _corrupt_json(corrupt_shares) -> list:
    return [[server.get_longname(), _b32(si), shnum] for (server, si, shnum) in corrupt_shares]


class DeepCheckResults:
    """The results of a deep-check so far (live while the check runs)."""

    def __init__(self, root_storage_index):
        self.root_storage_index = root_storage_index
        self.objects_checked = 0
        self.objects_healthy = 0
        self.objects_unhealthy = 0
        self.objects_unrecoverable = 0
        self.corrupt_shares = []
        self.all_results = {}                   # path tuple -> results
        self.all_results_by_storage_index = {}  # storage index -> results
        self.unlisted_directories = []          # (path tuple, Failure)
        self.stats = {}

    # ---- filled by the deep-check walker -----------------------------------------------
    def add_check(self, results, path):
        """Count one object's :class:`~allmydata.check_results.CheckResults`
        (``None``: a LIT or unknown object, not counted)."""
        if results is None:
            return
        path = tuple(path)
        self.objects_checked += 1
        if results.is_healthy():
            self.objects_healthy += 1
        else:
            self.objects_unhealthy += 1
        if not results.is_recoverable():
            self.objects_unrecoverable += 1
        self.corrupt_shares.extend(results.get_corrupt_shares())
        self.all_results[path] = results
        self.all_results_by_storage_index[results.get_storage_index()] = results

    def add_unlisted_directory(self, path, failure):
        """A directory whose children could not be read (it is unrecoverable:
        its own results say so); the traversal went on without them."""
        self.unlisted_directories.append((tuple(path), failure))

    def update_stats(self, stats: dict):
        self.stats.update(stats)

    # ---- read by pages and JSON ----------------------------------------------------------
    def get_root_storage_index_string(self) -> str:
        if self.root_storage_index is None:
            return "<none>"
        return _b32(self.root_storage_index)

    def get_counters(self) -> dict:
        return {"count-objects-checked": self.objects_checked,
                "count-objects-healthy": self.objects_healthy,
                "count-objects-unhealthy": self.objects_unhealthy,
                "count-objects-unrecoverable": self.objects_unrecoverable,
                "count-corrupt-shares": len(self.corrupt_shares)}

    def get_corrupt_shares(self) -> list:
        """``[(server, storage_index, shnum)]`` found corrupt."""
        return self.corrupt_shares

    def get_all_results(self) -> dict:
        """``{path tuple: results}`` of every object checked."""
        return self.all_results

    def get_results_for_storage_index(self, storage_index):
        """The results for one object; KeyError if it was not checked."""
        return self.all_results_by_storage_index[storage_index]

    def get_unhealthy(self) -> list:
        """``[(path tuple, results)]`` of the objects found unhealthy."""
        return [(path, r) for path, r in self.all_results.items() if not _pre(r).is_healthy()]

    def get_unlisted_directories(self) -> list:
        return list(self.unlisted_directories)

    def get_stats(self) -> dict:
        return self.stats


class DeepCheckAndRepairResults(DeepCheckResults):
    """The results of a deep-check with repair so far.  ``all_results`` holds
    :class:`~allmydata.check_results.CheckAndRepairResults`; the inherited
    healthy/unhealthy/unrecoverable counters and ``corrupt_shares`` are those
    before repair."""

    def __init__(self, root_storage_index):
        super().__init__(root_storage_index)
        self.objects_healthy_post_repair = 0
        self.objects_unhealthy_post_repair = 0
        self.objects_unrecoverable_post_repair = 0
        self.repairs_attempted = 0
        self.repairs_successful = 0
        self.repairs_unsuccessful = 0
        self.corrupt_shares_post_repair = []

    def add_check_and_repair(self, results, path):
        """Count one object's
        :class:`~allmydata.check_results.CheckAndRepairResults` (``None``:
        a LIT or unknown object, not counted)."""
        if results is None:
            return
        path = tuple(path)
        pre, post = results.pre_repair_results, results.post_repair_results
        self.objects_checked += 1
        if pre.is_healthy():
            self.objects_healthy += 1
        else:
            self.objects_unhealthy += 1
        if not pre.is_recoverable():
            self.objects_unrecoverable += 1
        self.corrupt_shares.extend(pre.get_corrupt_shares())
        if results.repair_attempted:
            self.repairs_attempted += 1
            if results.repair_successful:
                self.repairs_successful += 1
            else:
                self.repairs_unsuccessful += 1
        if post.is_healthy():
            self.objects_healthy_post_repair += 1
        else:
            self.objects_unhealthy_post_repair += 1
        if not post.is_recoverable():
            self.objects_unrecoverable_post_repair += 1
        self.corrupt_shares_post_repair.extend(post.get_corrupt_shares())
        self.all_results[path] = results
        self.all_results_by_storage_index[results.storage_index] = results

    def get_counters(self) -> dict:
        return {
            "count-objects-checked": self.objects_checked,
            "count-objects-healthy-pre-repair": self.objects_healthy,
            "count-objects-unhealthy-pre-repair": self.objects_unhealthy,
            "count-objects-unrecoverable-pre-repair": self.objects_unrecoverable,
            "count-objects-healthy-post-repair": self.objects_healthy_post_repair,
            "count-objects-unhealthy-post-repair": self.objects_unhealthy_post_repair,
            "count-objects-unrecoverable-post-repair": self.objects_unrecoverable_post_repair,
            "count-repairs-attempted": self.repairs_attempted,
            "count-repairs-successful": self.repairs_successful,
            "count-repairs-unsuccessful": self.repairs_unsuccessful,
            "count-corrupt-shares-pre-repair": len(self.corrupt_shares),
            "count-corrupt-shares-post-repair": len(self.corrupt_shares_post_repair),
        }

    def get_remaining_corrupt_shares(self) -> list:
        """``[(server, storage_index, shnum)]`` still corrupt after repair."""
        return self.corrupt_shares_post_repair


def _pre(results):
    """The check results before any repair (a check's results are their own)."""
    return getattr(results, "pre_repair_results", results)


# ---- /operations/$HANDLE?t=status&output=JSON -------------------------------------------------
def deep_check_json(monitor) -> dict:
    """A deep-check's status (``monitor.get_status()`` a DeepCheckResults)."""
    res = monitor.get_status()
    c = res.get_counters()
    return {
        "finished": monitor.is_finished(),
        "root-storage-index": res.get_root_storage_index_string(),
        "count-objects-checked": c["count-objects-checked"],
        "count-objects-healthy": c["count-objects-healthy"],
        "count-objects-unhealthy": c["count-objects-unhealthy"],
        "count-corrupt-shares": c["count-corrupt-shares"],
        "list-corrupt-shares": _corrupt_json(res.get_corrupt_shares()),
        "list-unhealthy-files": [[list(path), check_results_json(r)]
                                 for path, r in res.get_unhealthy()],
        "stats": res.get_stats(),
    }


def deep_check_and_repair_json(monitor) -> dict:
    """A deep-check-and-repair's status (a DeepCheckAndRepairResults).

    ``count-corrupt-shares-post-repair`` counts the shares still corrupt
    after repair (Tahoe-LAFS 1.20 repeats the pre-repair count there)."""
    res = monitor.get_status()
    c = res.get_counters()
    out = {"finished": monitor.is_finished(),
           "root-storage-index": res.get_root_storage_index_string()}
    for key in ("count-objects-checked",
                "count-objects-healthy-pre-repair", "count-objects-unhealthy-pre-repair",
                "count-objects-healthy-post-repair", "count-objects-unhealthy-post-repair",
                "count-repairs-attempted", "count-repairs-successful",
                "count-repairs-unsuccessful",
                "count-corrupt-shares-pre-repair", "count-corrupt-shares-post-repair"):
        out[key] = c[key]
    out["list-corrupt-shares"] = _corrupt_json(res.get_corrupt_shares())
    out["list-remaining-corrupt-shares"] = _corrupt_json(res.get_remaining_corrupt_shares())
    out["list-unhealthy-files"] = [[list(path), check_results_json(r.pre_repair_results)]
                                   for path, r in res.get_unhealthy()]
    out["stats"] = res.get_stats()
    return out


def manifest_json(monitor, origin_storage_index) -> dict:
    """A manifest's status: ``stats``, ``finished`` and ``origin`` (the
    root's storage index, "" for a LIT directory) always; ``manifest``
    (``[[path list, cap]]``), ``verifycaps`` and ``storage-index`` only once
    the traversal has finished."""
    s = monitor.get_status()
    out = {"stats": s["stats"], "finished": monitor.is_finished(),
           "origin": _b32(origin_storage_index) if origin_storage_index else ""}
    if monitor.is_finished():
        out["manifest"] = [[list(path), _text(cap)] for path, cap in s["manifest"]]
        out["verifycaps"] = [_text(v) for v in s["verifycaps"]]
        out["storage-index"] = [_text(si) for si in s["storage-index"]]
    return out


def manifest_text(monitor) -> str:
    """``t=start-manifest``'s text status: ``finished: yes|no``, then one
    ``path cap`` line per object (the root's path is empty)."""
    lines = ["finished: " + ("yes" if monitor.is_finished() else "no")]
    for path, cap in monitor.get_status()["manifest"]:
        lines.append("/".join(path) + " " + (_text(cap) or ""))
    return "\n".join(lines) + "\n"


def deep_size_total(stats: dict) -> int:
    """The bytes of the immutable files, mutable files and directories."""
    return (stats.get("size-immutable-files", 0) + stats.get("size-mutable-files", 0)
            + stats.get("size-directories", 0))


def deep_size_json(monitor) -> dict:
    """A deep-size's JSON status: as Tahoe-LAFS 1.20 answers it, ``size``
    holds the whole deep-stats dict (see :func:`deep_size_total`)."""
    return {"finished": monitor.is_finished(), "size": monitor.get_status()}


def deep_size_text(monitor) -> str:
    """A deep-size's text (and HTML) status: ``finished: yes|no``, then,
    when finished, ``size: N``."""
    out = "finished: " + ("yes" if monitor.is_finished() else "no") + "\n"
    if monitor.is_finished():
        out += "size: %d\n" % deep_size_total(monitor.get_status())
    return out


def deep_stats_json(monitor) -> dict:
    """A deep-stats' status: the stats dict with ``finished``."""
    out = dict(monitor.get_status())
    out["finished"] = monitor.is_finished()
    return out


# ---- t=stream-manifest and t=stream-deep-check lines ----------------------------------------
def node_type(node) -> str:
    """"directory", "file" or "unknown", as the stream lines name it."""
    if node.is_unknown():
        return "unknown"
    if IDirectoryNode.providedBy(node):
        return "directory"
    return "file"


def manifest_unit(path, node) -> dict:
    """One ``t=stream-manifest`` line's object for ``node`` at ``path``."""
    verifycap = node.get_verify_cap()
    get_repair_cap = getattr(node, "get_repair_cap", None)
    repaircap = get_repair_cap() if get_repair_cap is not None else None
    si = node.get_storage_index()
    return {"path": list(path),
            "cap": _text(node.get_uri()),
            "type": node_type(node),
            "verifycap": _text(verifycap.to_string()) if verifycap else "",
            "repaircap": _text(repaircap.to_string()) if repaircap else "",
            "storage-index": _b32(si) if si else ""}


def deep_check_unit(path, node, results) -> dict:
    """One ``t=stream-deep-check`` line's object (``results``: the node's
    CheckResults, None for a LIT or unknown object)."""
    out = manifest_unit(path, node)
    out["check-results"] = check_results_json(results)
    return out


def deep_check_and_repair_unit(path, node, results) -> dict:
    """One ``t=stream-deep-check&repair=true`` line's object (``results``:
    the node's CheckAndRepairResults, None for a LIT or unknown object)."""
    out = manifest_unit(path, node)
    out["check-and-repair-results"] = check_and_repair_json(results)
    return out


def stats_unit(stats: dict) -> dict:
    """The last line of either stream: the deep-stats."""
    return {"type": "stats", "stats": stats}

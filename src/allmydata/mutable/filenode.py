"""Mutable files as nodes: :class:`MutableFileNode` and :func:`create_mutable_file`.

A node is made from any SSK/MDMF cap (write, read or verify) and the storage
broker, and does everything through a server map (servermap.py), a publish
(publish.py), a retrieve (retrieve.py) or an in-place update (update.py):

* reads: ``download_best_version`` / ``download_to_data``, ``read(consumer,
  offset, size)`` (an MDMF range read fetches only its segments),
  ``get_current_size``, ``download(target)``;
* writes (write caps only; a read cap raises :class:`NotCapableError`):
  ``overwrite(new)``, ``update(new)`` (as the 2008 interfaces define it: refuses with
  UncoordinatedWriteError when the file changed since this node last read
  it), ``modify(modifier)`` (read-modify-write, retried with a backoff on
  UncoordinatedWriteError), ``write_at(offset, data)``.

Checking and repair: ``check(monitor, verify, add_lease)`` (checker.py, from
the verify cap), ``check_and_repair(...)`` (a check, then, unless the file is
healthy, a repair -- repairer.py -- and a check after it) and ``repair(check
results)``.  A repair is a write: it needs the write cap.

Writes of one node are serialized (repairs among them).  Every write first maps the servers in
MODE_WRITE (to see every share and fetch the private key if needed), so a
publish tests against what is on the servers now.
"""

import io

from twisted.internet import defer, task
from twisted.logger import Logger
from twisted.python.failure import Failure

from .. import uri as urimod
from ..crypto import rsa
from ..immutable.target import MemoryConsumer, TargetConsumer
from ..util.default_reactor import default_reactor
from .common import (
    MDMF_VERSION,
    MODE_READ,
    MODE_WRITE,
    SDMF_VERSION,
    MutableKeys,
    NotCapableError,
    UncoordinatedWriteError,
    UnrecoverableFileError,
    VersionChangedError,
)
from ..check_results import CheckAndRepairResults
from ..monitor import OperationCancelledError
from .checker import check_mutable
from .publish import Publish, unreachable_error
from .repairer import repair_mutable
from .retrieve import Retrieve
from .servermap import ServerMap, ServermapUpdater
from .update import write_at as write_in_place

log = Logger()

MAX_MODIFY_ATTEMPTS = 6
MAX_READ_ATTEMPTS = 3


class _Source:
    """bytes, a file-like object, or an IUploadable, read a piece at a time."""

    def __init__(self, contents):
        if isinstance(contents, (bytes, bytearray, memoryview)):
            contents = io.BytesIO(bytes(contents))
        self._c = contents
        self._start = contents.tell() if hasattr(contents, "seek") else None

    def __getattr__(self, name):
        # ``rewind`` exists only for sources that can be read again
        if name == "rewind" and self._start is not None:
            return self._rewind
        raise AttributeError(name)

    async def _rewind(self):
        self._c.seek(self._start)

    async def size(self) -> int:
        c = self._c
        if hasattr(c, "seek") and hasattr(c, "tell"):
            here = c.tell()
            c.seek(0, 2)
            end = c.tell()
            c.seek(here)
            return end - here
        return await defer.maybeDeferred(c.get_size)

    async def read(self, n: int) -> bytes:
        c = self._c
        if hasattr(c, "seek"):
            parts, left = [], n
            while left > 0:
                b = c.read(left)
                if not b:
                    break
                parts.append(b)
                left -= len(b)
            return b"".join(parts)
        got = await defer.maybeDeferred(c.read, n)
        return b"".join(got) if isinstance(got, (list, tuple)) else got


class MutableFileNode:
    """One mutable file, as seen through one cap."""

    def __init__(self, storage_broker, secret_holder, encoding_params=None, reactor=None,
                 history=None):
        self._broker = storage_broker
        # the node's History (or None): every map update, retrieve and
        # publish of this file hands it its status object when it starts
        self._history = history
        self._secrets = secret_holder
        params = dict(encoding_params or {})
        self._k = params.get("k", 3)
        self._n = params.get("n", 10)
        self._happy = params.get("happy")
        if reactor is None:
            reactor = default_reactor()
        self._reactor = reactor
        self._cap = None
        self._keys = None
        self._format = SDMF_VERSION
        self._size = None
        self._last_read_version = None
        self._lock = defer.DeferredLock()
        self._publish_status = None
        self._retrieve_status = None
        self._mapupdate_status = None

    # ---- construction ----
    @classmethod
    def from_cap(cls, cap, storage_broker, secret_holder, encoding_params=None, reactor=None,
                 history=None):
        if isinstance(cap, (bytes, str)):
            cap = urimod.from_string(cap)
        node = cls(storage_broker, secret_holder, encoding_params, reactor, history)
        node._cap = cap
        node._keys = MutableKeys.from_cap(cap)
        node._format = MDMF_VERSION if isinstance(
            cap, (urimod.WriteableMDMFFileURI, urimod.ReadonlyMDMFFileURI,
                  urimod.MDMFVerifierURI)) else SDMF_VERSION
        return node

    def __repr__(self):
        # the kind of cap and the storage index: the cap itself is a secret
        # (its first field is the write or read key), and reprs reach logs
        return "<MutableFileNode %s SI=%s>" % (
            self._cap.PREFIX.decode("ascii").rstrip(":"),
            urimod.base32.b2a(self.get_storage_index())[:10].decode("ascii"))

    # ---- caps and keys ----
    def get_cap(self):
        return self._cap

    def get_uri(self) -> bytes:
        return self._cap.to_string()

    def get_write_uri(self):
        return None if self.is_readonly() else self.get_uri()

    def get_readonly_uri(self) -> bytes:
        return self.get_readcap().to_string()

    def get_readcap(self):
        return self._cap if self._cap.is_readonly() else self._cap.get_readonly()

    def get_verify_cap(self):
        return self._cap.get_verify_cap() if hasattr(self._cap, "get_verify_cap") \
            else self._cap.get_verifier()

    get_verifier = get_verify_cap

    def get_repair_cap(self):
        return self._cap

    def get_storage_index(self) -> bytes:
        return self._keys.storage_index

    def get_writekey(self):
        return self._keys.writekey

    def get_readkey(self):
        return self._keys.readkey

    def get_fingerprint(self) -> bytes:
        return self._keys.fingerprint

    def get_privkey(self):
        return self._keys.privkey

    def get_keys(self) -> MutableKeys:
        return self._keys

    def is_readonly(self) -> bool:
        return self._keys.writekey is None

    def is_mutable(self) -> bool:
        return True

    def is_unknown(self) -> bool:
        return False

    def is_allowed_in_immutable_directory(self) -> bool:
        return False

    def get_version(self) -> int:
        return self._format

    def get_size(self):
        return self._size

    def get_encoding_parameters(self):
        return self._k, self._n

    # ---- status ----
    def get_publish_status(self):
        return self._publish_status

    def get_retrieve_status(self):
        return self._retrieve_status

    def get_servermap_status(self):
        return self._mapupdate_status

    # ---- server maps ----
    def get_servermap(self, mode=MODE_READ, servermap=None):
        """Deferred(ServerMap) from asking the servers in ``mode``."""
        return defer.ensureDeferred(self._get_servermap(mode, servermap))

    async def _get_servermap(self, mode, servermap=None):
        smap = servermap or ServerMap()
        updater = ServermapUpdater(self._keys, self._broker, smap, mode, hint_n=self._n,
                                   hint_k=self._k, reactor=self._reactor)
        self._mapupdate_status = updater.status
        if self._history is not None:
            self._history.add_mapupdate(updater.status)
        await updater.update()
        if smap.pubkey is not None and self._keys.pubkey is None:
            self._keys = self._keys.with_keypair(pubkey=smap.pubkey)
        if smap.privkey is not None and self._keys.privkey is None:
            self._keys = self._keys.with_keypair(privkey=smap.privkey)
        best = smap.best_recoverable_version()
        if best is not None:
            self._size = best[4]
            self._k, self._n = best[5], best[6]
        return smap

    def _require_best(self, smap):
        best = smap.best_recoverable_version()
        if best is None:
            raise UnrecoverableFileError(
                "no recoverable version of mutable file %s: %s"
                % (urimod.base32.b2a(self.get_storage_index()).decode("ascii"),
                   smap.describe_failure()))
        return best

    def _require_best_for_write(self, smap):
        """The best version to change; NotEnoughServersError (saying how many
        servers were reached) when no share was found because servers are
        out of reach, UnrecoverableFileError for other reasons."""
        best = smap.best_recoverable_version()
        if best is None:
            err = unreachable_error(smap, self._broker, self.get_storage_index(), self._k)
            if err is not None:
                raise err
        return self._require_best(smap)

    # ---- reads ----
    def read(self, consumer, offset: int = 0, size: int | None = None):
        """Stream bytes [offset, offset+size) of the best version; Deferred(consumer)."""
        return defer.ensureDeferred(self._read(consumer, offset, size))

    async def _read(self, consumer, offset=0, size=None, smap=None):
        """Read through ``smap``, or through fresh maps: a version replaced while
        it was read (VersionChangedError) is read again, a few times."""
        if self._keys.readkey is None:
            raise NotCapableError("a verify cap cannot read the file's contents")
        attempt = 0
        while True:
            attempt += 1
            m = smap or await self._get_servermap(MODE_READ)
            best = self._require_best(m)
            r = Retrieve(self._keys, m, best, reactor=self._reactor)
            self._retrieve_status = r.status
            if self._history is not None:
                self._history.add_retrieve(r.status)
            try:
                await r.download(consumer, offset, size)
            except VersionChangedError:
                if smap is not None or attempt >= MAX_READ_ATTEMPTS or r.delivered:
                    raise
                continue
            self._last_read_version = best
            if self._history is not None:
                self._history.count("mutable.files_retrieved")
                self._history.count("mutable.bytes_retrieved", r.delivered)
            return consumer

    def download_best_version(self):
        """Deferred(bytes): the whole contents of the newest recoverable version."""
        d = self.read(MemoryConsumer())
        d.addCallback(lambda c: c.data())
        return d

    download_to_data = download_best_version

    def download(self, target):
        consumer = TargetConsumer(target)
        target.register_canceller(lambda: consumer.producer and consumer.producer.stopProducing())

        async def _go():
            try:
                target.open(self._size)
                await self._read(consumer)
            except BaseException as e:
                target.fail(e)
                raise
            target.close()
            return target.finish()
        return defer.ensureDeferred(_go())

    def get_current_size(self):
        """Deferred(int): the size of the newest recoverable version."""
        async def _go():
            smap = await self._get_servermap(MODE_READ)
            return self._require_best(smap)[4]
        return defer.ensureDeferred(_go())

    def get_size_of_best_version(self):
        return self.get_current_size()

    # ---- writes ----
    def _check_writeable(self):
        if self.is_readonly():
            raise NotCapableError()

    def _serialized(self, fn, *args):
        return self._lock.run(lambda: defer.ensureDeferred(fn(*args)))

    async def _publish(self, contents, smap, existing=True):
        """Publish ``contents`` as the next version; ``existing`` False for a
        new file (no share anywhere is then no surprise)."""
        if existing and smap.best_recoverable_version() is None:
            err = unreachable_error(smap, self._broker, self.get_storage_index(), self._k)
            if err is not None:
                raise err
        src = contents if hasattr(contents, "size") and hasattr(contents, "read") and \
            isinstance(contents, _Source) else _Source(contents)
        size = await src.size()
        best = smap.best_recoverable_version()
        k, n = (best[5], best[6]) if best is not None else (self._k, self._n)
        p = Publish(self._keys, self._broker, self._secrets, smap, version=self._format, k=k, n=n,
                    happy=self._happy, reactor=self._reactor)
        self._publish_status = p.status
        if self._history is not None:
            self._history.add_publish(p.status)
        await p.publish(src, size)
        if self._history is not None:
            self._history.count("mutable.files_published")
            self._history.count("mutable.bytes_published", size)
        self._size = size
        self._last_read_version = smap.best_recoverable_version()

    def overwrite(self, new_contents):
        """Replace the contents, whatever they are now.  Deferred(None)."""
        try:
            self._check_writeable()
        except NotCapableError:
            return defer.fail()
        return self._serialized(self._overwrite, new_contents)

    async def _overwrite(self, new_contents):
        smap = await self._get_servermap(MODE_WRITE)
        await self._publish(new_contents, smap)

    def update(self, new_contents):
        """Replace the contents read last by this node (as the 2008
        interfaces define it):
        UncoordinatedWriteError if the file changed since.  Deferred(None)."""
        try:
            self._check_writeable()
        except NotCapableError:
            return defer.fail()
        return self._serialized(self._update, new_contents)

    async def _update(self, new_contents):
        smap = await self._get_servermap(MODE_WRITE)
        best = smap.best_recoverable_version()
        if self._last_read_version is not None and best is not None and \
                best[:2] != self._last_read_version[:2]:
            raise UncoordinatedWriteError(
                "the file changed since this node last read it (now seq%d, read seq%d)"
                % (best[0], self._last_read_version[0]))
        await self._publish(new_contents, smap)

    def modify(self, modifier, backoffer=None):
        """Read-modify-write: ``modifier(old, servermap, first_time)`` returns
        the new contents (bytes) or None for no change; retried on
        UncoordinatedWriteError.  ``backoffer(node, failure)`` (optional)
        returns a Deferred that fires to retry or fails to give up."""
        try:
            self._check_writeable()
        except NotCapableError:
            return defer.fail()
        return self._serialized(self._modify, modifier, backoffer)

    async def _modify(self, modifier, backoffer):
        first_time = True
        attempt = 0
        while True:
            attempt += 1
            smap = await self._get_servermap(MODE_WRITE)
            best = smap.best_recoverable_version()
            if best is None:
                if smap.versions() or smap.bad_shares():
                    self._require_best(smap)
                # no share anywhere: an empty file, unless servers are out of reach
                err = unreachable_error(smap, self._broker, self.get_storage_index(), self._k)
                if err is not None:
                    raise err
                old = b""
            else:
                c = MemoryConsumer()
                try:
                    await self._read(c, smap=smap)
                except VersionChangedError:
                    if attempt >= MAX_MODIFY_ATTEMPTS:
                        raise
                    await task.deferLater(self._reactor, 0.05 * attempt * attempt, lambda: None)
                    continue
                old = c.data()
            new = await defer.maybeDeferred(modifier, old, smap, first_time)
            first_time = False
            if new is None or (new == old and best is not None):
                return None
            try:
                await self._publish(new, smap)
                return None
            except UncoordinatedWriteError as e:
                if backoffer is not None:
                    await backoffer(self, Failure(e))
                elif attempt >= MAX_MODIFY_ATTEMPTS:
                    raise
                else:
                    await task.deferLater(self._reactor, 0.05 * attempt * attempt, lambda: None)

    # ---- check and repair ----
    def check(self, monitor=None, verify=False, add_lease=False):
        """Deferred(CheckResults): what the servers hold of this file
        (``verify``: every share of the best version read and checked;
        ``add_lease``: this client's lease added or renewed on every server)."""
        return defer.ensureDeferred(check_mutable(
            self.get_verify_cap(), self._broker, verify=verify, add_lease=add_lease,
            secret_holder=self._secrets, monitor=monitor, reactor=self._reactor,
            history=self._history))

    def check_and_repair(self, monitor=None, verify=False, add_lease=False):
        """Deferred(CheckAndRepairResults): a check and, when the file is not
        healthy, a repair and a check after it (``post_repair_results``; the
        pre-repair results when no repair was attempted).  A read-only node
        attempts no repair (``repair_error`` says so)."""
        return defer.ensureDeferred(self._check_and_repair(monitor, verify, add_lease))

    async def _check_and_repair(self, monitor, verify, add_lease):
        si = self.get_storage_index()
        pre = await self.check(monitor, verify, add_lease)
        if pre.healthy:
            return CheckAndRepairResults(storage_index=si, pre_repair_results=pre,
                                         post_repair_results=pre)
        if self.is_readonly():
            return CheckAndRepairResults(
                storage_index=si, pre_repair_results=pre, post_repair_results=pre,
                repair_error="not repaired: repairing a mutable file needs its write cap, "
                             "and this node was made from a read-only cap")
        try:
            rr = await self.repair(pre, monitor=monitor)
            error = rr.error
        except OperationCancelledError:
            raise
        except Exception as e:
            rr, error = None, "repair failed: %s" % (e,)
        post = await self.check(monitor, verify, False)
        return CheckAndRepairResults(
            storage_index=si, pre_repair_results=pre, post_repair_results=post,
            repair_attempted=True,
            repair_successful=rr is not None and rr.successful and post.healthy,
            repair_error=error if error is not None or post.healthy else
            "the file is still not healthy after the repair: %s" % post.summary)

    def repair(self, check_results=None, force=False, monitor=None):
        """Deferred(RepairResults): republish the best recoverable version
        (repairer.py); serialized with this node's writes."""
        return self._serialized(self._repair, check_results, force, monitor)

    async def _repair(self, check_results, force, monitor):
        return await repair_mutable(self, check_results, force=force, monitor=monitor)

    async def read_for_repair(self, consumer, smap):
        """Write the best version of ``smap`` to ``consumer`` (for a repair)."""
        await self._read(consumer, smap=smap)

    async def publish_for_repair(self, contents, smap):
        """Publish ``contents`` as the next version over the shares ``smap`` saw."""
        await self._publish(contents, smap)

    def write_at(self, offset: int, data: bytes):
        """Write ``data`` at byte ``offset`` (extending the file if needed; a
        gap past the end is filled with zeros).  MDMF rewrites only the
        touched segments; SDMF rewrites the file.  Deferred(None)."""
        try:
            self._check_writeable()
            if offset < 0:
                raise ValueError("offset must be >= 0, got %r" % (offset,))
        except Exception:
            return defer.fail()
        return self._serialized(write_in_place, self, offset, data)


# ---- creation ------------------------------------------------------------------------
def create_mutable_file(storage_broker, secret_holder, encoding_params, contents=b"",
                        version=SDMF_VERSION, keypair=None, reactor=None, history=None):
    """A new mutable file holding ``contents`` (bytes or a file-like object);
    Deferred(MutableFileNode).  ``keypair`` = (privkey, pubkey) to use a given
    key (otherwise a fresh RSA-2048 key); ``history``: the node's History,
    which records the new file's map update and publish."""
    return defer.ensureDeferred(_create(storage_broker, secret_holder, encoding_params, contents,
                                        version, keypair, reactor, history))


async def _create(storage_broker, secret_holder, encoding_params, contents, version, keypair,
                  reactor, history=None):
    if version is None:
        version = SDMF_VERSION
    if keypair is None:
        keypair = rsa.generate_keypair(2048)
    priv, pub = keypair
    keys = MutableKeys.from_privkey(priv, pub)
    node = MutableFileNode.from_cap(keys.writecap(version), storage_broker, secret_holder,
                                    encoding_params, reactor, history)
    node._keys = keys
    # a new file: the map is empty unless the key was used before
    smap = await node._get_servermap(MODE_WRITE)
    await node._publish(contents, smap, existing=False)
    return node

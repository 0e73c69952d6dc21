"""The remote interface of the control port.

Tahoe-LAFS declares ``RIControlClient`` in ``allmydata/interfaces.py``
without a ``__remote_name__``, so Foolscap names it after that module and
class; the name is given here explicitly so that this module's own path does
not change it.
"""

from foolscap.api import Any, ChoiceOf, DictOf, RemoteInterface, StringConstraint

URI = StringConstraint(300)
Nodeid = StringConstraint(maxLength=20, minLength=20)


class RIControlClient(RemoteInterface):
    __remote_name__ = "allmydata.interfaces.RIControlClient"

    def wait_for_client_connections(num_clients=int):
        """Return once at least ``num_clients`` storage servers are connected;
        fail with the reason if the node stops first."""

    def upload_from_file_to_uri(filename=str,
                                convergence=ChoiceOf(None, StringConstraint(2**20))):
        """Upload the local file ``filename`` (absolute) as an immutable file;
        return its cap.  ``convergence`` None encrypts with a random key,
        otherwise the key is derived from the plaintext and this string."""
        return URI

    def download_from_uri_to_file(uri=URI, filename=str):
        """Download the file ``uri`` to the local path ``filename``
        (absolute); return that path."""
        return str

    def get_memory_usage():
        """``VmPeak``, ``VmSize`` and ``VmData`` of the node process, in bytes."""
        return DictOf(str, int)

    def speed_test(count=int, size=int, mutable=Any()):
        """Upload then download ``count`` files of ``size`` bytes; return
        (upload seconds, download seconds).  ``mutable`` None: immutable
        files; "create": a new mutable file each; "upload": one mutable file
        overwritten each time."""
        return (float, float)

    def measure_peer_response_time():
        """Round-trip time of one small call to each connected storage
        server, in seconds, keyed by server id; a server that fails the call
        or does not answer in time is left out."""
        return DictOf(Nodeid, float)

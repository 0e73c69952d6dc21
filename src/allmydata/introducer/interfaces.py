"""The introducer protocol of the 2008 interfaces, allmydata-tahoe 2008 (v1: unsigned 6-tuple announcements).

An announcement is ``(FURL, service_name, remoteinterface_name, nickname,
my_version, oldest_supported)``.  The first three name the service being
announced, the last three describe the node as a whole.  All six are byte
strings on the wire (the 2008 interfaces' ``str``).
"""

from foolscap.api import RemoteInterface
from foolscap.schema import SetOf, StringConstraint, TupleOf
from zope.interface import Interface

FURL = StringConstraint(1000)
Announcement = TupleOf(FURL, bytes, bytes, bytes, bytes, bytes)


class RIIntroducerSubscriberClient(RemoteInterface):
    __remote_name__ = "RIIntroducerSubscriberClient.tahoe.allmydata.com"

    def announce(announcements=SetOf(Announcement)):
        """I accept announcements from the publisher."""
        return None

    def set_encoding_parameters(parameters=(int, int, int)):
        """Advise the client of the grid's recommended (k, happy, n)."""
        return None


class RIIntroducerPublisher(RemoteInterface):
    __remote_name__ = "RIIntroducerPublisher.tahoe.allmydata.com"

    def publish(announcement=Announcement):
        return None


class RIIntroducerSubscriberService(RemoteInterface):
    __remote_name__ = "RIIntroducerSubscriberService.tahoe.allmydata.com"

    def subscribe(subscriber=RIIntroducerSubscriberClient, service_name=bytes):
        """Send the subscriber every announcement for service_name, now and
        later.  Duplicate subscriptions are ignored."""
        return None


class RIIntroducerPublisherAndSubscriberService(RemoteInterface):
    __remote_name__ = "RIIntroducerPublisherAndSubscriberService.tahoe.allmydata.com"

    def publish(announcement=Announcement):
        return None

    def subscribe(subscriber=RIIntroducerSubscriberClient, service_name=bytes):
        return None


class RIStubClient(RemoteInterface):
    """The (empty) interface of the stub object each client announces, so
    the introducer can count and describe the clients of the grid."""


class IIntroducerClient(Interface):
    """Service introduction for a node: publish its services, learn of and
    connect to the services of others."""

    def publish(furl, service_name, remoteinterface_name):
        """Announce that the Referenceable at FURL provides SERVICE_NAME."""

    def subscribe_to(service_name):
        """Subscribe to announcements of SERVICE_NAME and connect to them."""

    def get_all_connections():
        """frozenset of (nodeid, service_name, rref) for live connections."""

    def get_all_connectors():
        """dict (nodeid, service_name) -> RemoteServiceConnector, with the
        attributes service_name, announcement_time, last_connect_time,
        last_loss_time, version, oldest_supported, rref, remote_host."""

    def get_all_peerids():
        """frozenset of nodeids we have at least one connection to."""

    def get_all_connections_for(service_name):
        """frozenset of (nodeid, service_name, rref) for SERVICE_NAME."""

    def get_permuted_peers(service_name, key):
        """Ordered list of (peerid, rref) for SERVICE_NAME, permuted by KEY."""

    def connected_to_introducer():
        """True if we are connected to the introducer now."""

"""The global reactor, for objects built without one.

Services and operations take their reactor (or clock) as an argument, and
tests pass a fake one.  When a caller passes none, the global
``twisted.internet.reactor`` is used; it is imported by :func:`default_reactor`
when first asked for, not when a module is imported, because importing it
installs the default reactor: a module that did so at import time would choose
the reactor before the program (``tahoe run``, a test runner) could install the
one it wants.
"""


def default_reactor():
    """``twisted.internet.reactor`` (installing the default reactor if no
    other has been installed yet)."""
    from twisted.internet import reactor
    return reactor

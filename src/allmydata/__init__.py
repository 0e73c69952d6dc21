"""allmydata: a Python implementation of the Tahoe-LAFS architecture.

The package is organised as one sub-package per subsystem (``storage``,
``introducer``, ``web``, ``scripts``, ``util``); ``node`` composes them.
"""

__version__ = "0.1.0"
__appname__ = "allmydata-tahoe"

#: the version string we announce and report, as "<appname>/<version>"
__full_version__ = "%s/%s" % (__appname__, __version__)

"""Grids and helpers for the tests and the ``misc/`` tools.

Every grid here listens on 127.0.0.1 only, and every process or Tub it
starts is stopped by the grid's own clean-up.  Nothing here imports pytest:
the fixtures that build these grids live in the ``conftest.py`` files under
``allmydata/test/``.

* :mod:`.ports`, :mod:`.waiting`, :mod:`.tubs` -- a free port, polling until
  a condition holds (blocking or on the reactor), a Tub on 127.0.0.1.
* :mod:`.processes` -- running ``tahoe`` commands and node processes, and a
  small introducer + storage + client process grid.
* :mod:`.procgrid`, :mod:`.procweb` -- a process grid driven as a user
  would (command line, node files, the web API over blocking HTTP), with
  one client or several.
* :mod:`.nodeconfig` -- a node's ``tahoe.cfg``, its ``servers.yaml`` and
  convergence secret, where a storage node keeps its shares.
* :mod:`.storage_process` -- one storage server in a process of its own.
* :mod:`.storagegrid`, :mod:`.mutablegrid` -- real storage servers on real
  Tubs in this process, reached through a real storage broker.
* :mod:`.buckets` -- buckets and remote references without a network.
* :mod:`.storage_transports` -- one storage server reached directly or
  over Foolscap, behind one interface.
* :mod:`.nodegrid` -- whole nodes (storage and client) in this process,
  and an HTTP client on the same reactor.
* :mod:`.introducer_grid` -- an introducer and its clients on Tubs.
* :mod:`.refvenv`, :mod:`.reference` -- the reference Tahoe-LAFS 1.20
  virtualenv, its nodes, and storage grids of either implementation.
"""

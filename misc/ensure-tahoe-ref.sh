#!/bin/sh
# Make sure the reference virtualenv with the real tahoe-lafs 1.20.0 exists
# (used by the interop tests, src/allmydata/test/interop/; built by
# src/allmydata/testing/refvenv.py). Prints its path.
#
#   misc/ensure-tahoe-ref.sh [VENV_DIR]
#
# VENV_DIR defaults to $TAHOE_REF_VENV, else <repo>/.tahoe-ref/venv.
# The interpreter used to build it is $PYTHON, else python3.
# Safe to run concurrently: creation holds a lock on VENV_DIR.lock.
set -e
here=$(cd "$(dirname "$0")/.." && pwd)
exec "${PYTHON:-python3}" "$here/src/allmydata/testing/refvenv.py" "$@"

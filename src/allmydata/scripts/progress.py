"""A count of the objects a deep operation has visited so far, for a person
watching a terminal.

:class:`ObjectCounter` draws a tqdm counter (``deep-check: 1234 objects
[00:12, 98.7 objects/s]``) on stderr only when stderr is a terminal, and
only once the operation has taken a second; it erases it when done.
Otherwise it draws nothing, so that what the commands print when run from
a script is exactly what Tahoe-LAFS prints.  :meth:`ObjectCounter.write`
is how the commands print their results and messages: when they go to a
terminal, the counter is cleared first so the two do not overwrite each other (it
reappears at its next update).
"""

import sys

DELAY = 1.0         # seconds before the counter first appears
MIN_INTERVAL = 0.1  # seconds between redraws


def _isatty(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class ObjectCounter:
    def __init__(self, description, stream=None, out=None, delay=DELAY, min_interval=MIN_INTERVAL):
        self._stream = stream if stream is not None else sys.stderr
        self._out = out
        self._bar = None
        self.count = 0
        if _isatty(self._stream):
            # imported only when a counter is drawn: every command would
            # otherwise pay for importing tqdm at start-up
            from tqdm import tqdm
            self._bar = tqdm(desc=description, unit=" objects", file=self._stream, delay=delay, mininterval=min_interval,
                             leave=False, dynamic_ncols=True)

    @property
    def stream(self):
        """Where the counter is drawn (stderr)."""
        return self._stream

    @property
    def out(self):
        return self._out if self._out is not None else sys.stdout

    @property
    def active(self) -> bool:
        """Is a counter being drawn?"""
        return self._bar is not None

    def update(self, n=1):
        """``n`` more objects visited."""
        self.count += n
        if self._bar is not None and n:
            self._bar.update(n)

    def set_count(self, total):
        """The operation reports ``total`` objects visited so far."""
        if total > self.count:
            self.update(total - self.count)

    def write(self, text, stream=None):
        """Write ``text`` to ``stream`` (stdout) without mixing it with the
        counter."""
        stream = stream if stream is not None else self.out
        on_terminal = self._bar is not None and _isatty(stream)
        if on_terminal:
            self._bar.clear()
        stream.write(text)
        if on_terminal:
            stream.flush()

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

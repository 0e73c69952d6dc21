"""``GET /statistics``: the node's counters and stats, as Tahoe-LAFS 1.20
serves them.

* HTML (no ``t``, or ``t=html``): the files and bytes uploaded, downloaded,
  published and retrieved, then every counter and stat as indented JSON.
* ``t=json``: ``{"counters": {name: number}, "stats": {name: number or
  null}}`` as ``text/plain`` (a stat is null where it cannot be computed
  yet, e.g. a latency percentile of too few samples).
* ``t=openmetrics``: the OpenMetrics text format for Prometheus-style
  scrapers: one ``tahoe_counters_<name> <value>`` or ``tahoe_stats_<name>
  <value>`` line per value (dots become underscores; a latency percentile
  ``..._99_0_percentile`` becomes the ``quantile="0.990"`` label of its
  operation's metric), then ``# EOF``.  A null is ``NaN``.

Every name and its unit are in docs/statistics.md.

OpenMetrics names may hold only ``[a-zA-Z0-9_:]``.  Tahoe-LAFS writes its
names as they are, so a name such as ``storage_server.add-lease`` makes its
text unreadable to a parser; here every other character becomes ``_``
(``tahoe_counters_storage_server_add_lease``).  Should a name so changed
become that of another sample, it is written in the injective ``U__``
escaping of Prometheus instead (``_`` doubled, any other character as
``_<hex code>_``); names that need no change keep theirs.  The samples of
one metric are written together, as the format requires.
"""

import json
import math
import re

from twisted.python.failure import Failure
from twisted.web import resource
from twisted.web.template import flattenString, tags

from .common import WebError, get_arg, render_error
from .status import abbreviate_size

OPENMETRICS_TYPE = b"application/openmetrics-text; version=1.0.0; charset=utf-8"
#: a latency percentile name's tail: 99_9_percentile -> quantile 0.999
_PERCENTILE = re.compile(r"_(\d\d)_(\d)_percentile\Z")
_NOT_IN_NAME = re.compile(r"[^a-zA-Z0-9_:]")

#: (label, counter of files, counter of bytes) of the HTML page's summary
GENERAL = (
    ("Files Uploaded (immutable)", "uploader.files_uploaded", "uploader.bytes_uploaded"),
    ("Files Downloaded (immutable)", "downloader.files_downloaded",
     "downloader.bytes_downloaded"),
    ("Files Published (mutable)", "mutable.files_published", "mutable.bytes_published"),
    ("Files Retrieved (mutable)", "mutable.files_retrieved", "mutable.bytes_retrieved"),
)


def json_safe(stats: dict) -> dict:
    """The stats with every value JSON can carry: a float that is not
    finite (which JSON has no spelling for) becomes null."""
    return {section: {name: (None if isinstance(v, float) and not math.isfinite(v) else v)
                      for name, v in values.items()}
            for section, values in stats.items()}


def metric_value(value) -> str:
    """A value as OpenMetrics writes numbers; None (not known yet) is NaN."""
    if value is None:
        return "NaN"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def escape_values(name: str) -> str:
    """Prometheus's ``U__`` escaping of a metric name: letters and digits
    stay, ``_`` is doubled, any other character is ``_<hex code>_``."""
    return "U__" + "".join(
        c if c.isascii() and c.isalnum() else "__" if c == "_" else "_%x_" % ord(c)
        for c in name)


def metric_sample(prefix: str, name: str) -> tuple:
    """(metric name, labels) of one counter or stat: dots become underscores,
    a percentile tail becomes a quantile label.  The metric name is not yet
    checked for characters OpenMetrics refuses."""
    metric = prefix + name.replace(".", "_")
    m = _PERCENTILE.search(metric)
    if m is None:
        return metric, ""
    return metric[:m.start()], '{quantile="0.%s%s"}' % (m.group(1), m.group(2))


def openmetrics_text(stats: dict) -> str:
    """The OpenMetrics exposition of ``{"counters": {...}, "stats": {...}}``."""
    samples = []  # (metric name, labels, value), in name order
    for prefix, section in (("tahoe_counters_", "counters"), ("tahoe_stats_", "stats")):
        values = stats.get(section, {})
        for name in sorted(values):
            samples.append(metric_sample(prefix, name) + (values[name],))
    # names that need no change keep theirs; a changed one that meets another
    # sample (or an earlier changed one) is escaped the injective way
    taken = {(metric, labels) for metric, labels, _ in samples
             if not _NOT_IN_NAME.search(metric)}
    families = {}  # metric name -> its lines, in the order of first appearance
    for metric, labels, value in samples:
        if _NOT_IN_NAME.search(metric):
            clean = _NOT_IN_NAME.sub("_", metric)
            if (clean, labels) in taken:
                clean = escape_values(metric)
            taken.add((clean, labels))
            metric = clean
        families.setdefault(metric, []).append(
            "%s%s %s" % (metric, labels, metric_value(value)))
    lines = [line for family in families.values() for line in family]
    lines.append("# EOF\n")
    return "\n".join(lines)


def statistics_page(stats: dict):
    counters = stats["counters"]
    general = []
    for label, files, nbytes in GENERAL:
        n, size = counters.get(files, 0), counters.get(nbytes, 0)
        general.append(tags.li("%s: %s files / %s bytes (%s)"
                               % (label, n, size, abbreviate_size(size))))
    return tags.html(
        tags.head(tags.meta(charset="utf-8"),
                  tags.title("Tahoe-LAFS - Operational Statistics"),
                  tags.link(href="/tahoe.css", rel="stylesheet", type="text/css")),
        tags.body(
            tags.h1("Operational Statistics"),
            tags.h2("General"),
            tags.ul(*general),
            tags.h2("Raw Stats:"),
            tags.pre(json.dumps(json_safe(stats), sort_keys=True, indent=4)),
            tags.div("Return to the ", tags.a("Welcome Page", href="/"))))


class Statistics(resource.Resource):
    """``/statistics`` of a node; ``provider`` is its StatsProvider."""

    isLeaf = True

    def __init__(self, provider):
        resource.Resource.__init__(self)
        self._provider = provider

    def render_GET(self, request):
        t = get_arg(request, "t", "")
        if t not in ("", "html", "json", "openmetrics"):
            return render_error(request, WebError(
                "unknown t=%s for the statistics page (t=json, t=openmetrics or none)" % t))
        stats = self._provider.get_stats()
        if t == "json":
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            return (json.dumps(json_safe(stats), indent=1, sort_keys=True) + "\n").encode()
        if t == "openmetrics":
            request.setHeader(b"Content-Type", OPENMETRICS_TYPE)
            return openmetrics_text(stats).encode("utf-8")
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        # the page holds no Deferred, so it is flattened at once
        done = []
        flattenString(request, statistics_page(stats)).addBoth(done.append)
        if isinstance(done[0], Failure):
            done[0].raiseException()
        return b"<!DOCTYPE html>\n" + done[0]

    # Tahoe-LAFS's ``tahoe status`` asks with a POST (t=json and its API token in the body)
    render_POST = render_GET

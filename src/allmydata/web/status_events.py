"""The timeline of one download, as ``/status/down-N/event_json`` gives it.

The shape is Tahoe-LAFS 1.20's (its download-status timeline reads it)::

    {"misc": [], "read": [event], "segment": [event], "dyhb": [event],
     "block": [event], "block_rownums": [int, ...],
     "server_info": {serverid: {"num", "color", "short"}},
     "num_serverids": int, "serverids": {"0": short name, ...},
     "bounds": {"min": seconds, "max": seconds}}

Times are seconds since the epoch.  Each event has a ``row``: events that
overlap in time get different rows (block requests: ``[server group, row]``),
so a drawing can lay them out without overlap.  The lists hold what the
download's results kept: the share queries of every server and the latest
block requests and segments (a bound the results set).
"""

import hashlib



def _color(serverid: bytes) -> str:
    h = hashlib.sha256(serverid).digest()
    return "#%02x%02x%02x" % tuple(min(b // 2 + 0x80, 0xff) for b in h[:3])


def _rows(events: list, start_key: str, end_key: str) -> list:
    """Give each event (in start order) the first row free at its start."""
    ends: list = []
    for ev in events:
        for row, end in enumerate(ends):
            if end is not None and ev[start_key] > end:
                ends[row] = ev[end_key]
                ev["row"] = row
                break
        else:
            ev["row"] = len(ends)
            ends.append(ev[end_key])
    return events


def _block_rows(events: list) -> tuple[list, list]:
    groups: dict = {}      # serverid -> list of row ends
    for ev in events:
        ends = groups.setdefault(ev["serverid"], [])
        group = list(groups).index(ev["serverid"])
        for row, end in enumerate(ends):
            if end is not None and ev["start_time"] > end:
                ends[row] = ev["finish_time"]
                ev["row"] = [group, row]
                break
        else:
            ev["row"] = [group, len(ends)]
            ends.append(ev["finish_time"])
    return events, [len(ends) for ends in groups.values()]


def download_events_json(status, names) -> dict:
    """The timeline of a DownloadStatus; ``names`` (a ServerNames) gives
    each server's long and short name."""
    r = status.get_results()
    started = status.get_started()
    if r is None:
        return {"misc": [], "read": [], "segment": [], "dyhb": [], "block": [],
                "block_rownums": [], "server_info": {}, "num_serverids": 0, "serverids": {},
                "bounds": {"min": started, "max": started}}

    def wall(t):
        return None if t is None else r.t0_wall + (t - r.t0)

    server_info, serverids = {}, {}

    def note(serverid: bytes) -> str:
        longname = names.long(serverid)
        if longname not in server_info:
            num = len(server_info)
            short = names.short(serverid)
            server_info[longname] = {"num": num, "color": _color(serverid), "short": short}
            serverids[str(num)] = short
        return longname

    dyhb = []
    for serverid, (sent, answered) in sorted(r.queries.items(), key=lambda kv: kv[1]):
        dyhb.append({"serverid": note(serverid), "start_time": wall(sent),
                     "finish_time": wall(answered),
                     "response_shnums": sorted(r.servermap.get(serverid, ()))})
    blocks = []
    for serverid, shnum, segnum, sent, received, nbytes in sorted(r.block_events,
                                                                  key=lambda e: e[3]):
        blocks.append({"serverid": note(serverid), "shnum": shnum, "segnum": segnum,
                       "start_time": wall(sent), "finish_time": wall(received),
                       "response_length": nbytes})
    segments = []
    for segnum, asked, delivered, start, length, ok in sorted(r.segment_events,
                                                              key=lambda e: e[1]):
        segments.append({"segment_number": segnum, "start_time": wall(asked),
                         "active_time": wall(asked), "finish_time": wall(delivered),
                         "success": ok, "segment_start": start, "segment_length": length})
    finished = r.t0_wall + r.timings["total"] if "total" in r.timings else None
    read = [{"start_time": started, "finish_time": finished,
             "bytes_returned": int(status.get_progress() * (status.get_size() or 0)),
             "length": status.get_size(),
             "paused_time": r.timings.get("paused", 0.0),
             "decrypt_time": r.timings.get("cumulative_decrypt")}]
    block, rownums = _block_rows(blocks)
    times = [t for ev in dyhb + blocks + segments + read
             for t in (ev["start_time"], ev["finish_time"]) if t is not None]
    return {"misc": [],
            "read": _rows(read, "start_time", "finish_time"),
            "segment": _rows(segments, "start_time", "finish_time"),
            "dyhb": _rows(dyhb, "start_time", "finish_time"),
            "block": block, "block_rownums": rownums,
            "server_info": server_info, "num_serverids": len(server_info),
            "serverids": serverids,
            "bounds": {"min": min(times, default=started), "max": max(times, default=started)}}

"""Reading what ``tahoe`` commands print, for comparing ours with Tahoe-LAFS
1.20's: the JSON documents ``--raw`` prints one after another, and JSON
values whose lists come in no particular order."""

import json


def json_documents(text):
    """The JSON documents of ``text``, one after the other."""
    decoder = json.JSONDecoder()
    docs, i = [], 0
    while text[i:].strip():
        while text[i].isspace():
            i += 1
        doc, i = decoder.raw_decode(text, i)
        docs.append(doc)
    return docs


def normalized(value):
    """``value`` with every list sorted (by its JSON text)."""
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((normalized(v) for v in value), key=json.dumps)
    return value

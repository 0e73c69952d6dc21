# Made the vector tahoe120_dir_vector.json: run with the Python of a Tahoe-LAFS 1.20 install
# (e.g. .tahoe-ref/venv/bin/python this-file > tahoe120_dir_vector.json).  It packs a fixed set of
# children with Tahoe-LAFS's own dirnode.pack_children, under a fixed writekey.
import json, base64, sys
from allmydata import dirnode, nodemaker
nm = nodemaker.NodeMaker(None, None, None, None, None, {"k":3,"happy":7,"n":10,"max_segment_size":1<<20}, 0, None)
wk = bytes(range(16))
caps = {
 "lit": (None, b"URI:LIT:nbswy3dp"),
 "chk": (None, b"URI:CHK:yzxcoagbetwet65ltjpbqyli3m:6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:1:1:56"),
 "ssk": (b"URI:SSK:fs6ul2fju2fvb2cfx7gt6ngycm:hncpinwszbggrurbvuaaexnftk3j5wfr7473pj2g734mo2isxlbq", None),
 "dir": (b"URI:DIR2:fs6ul2fju2fvb2cfx7gt6ngycm:hncpinwszbggrurbvuaaexnftk3j5wfr7473pj2g734mo2isxlbq", None),
 "unknown": (b"x-tahoe-future:rw", b"ro.x-tahoe-future:ro"),
 "unknown-ro": (None, b"ro.x-tahoe-future:ro2"),
 "imm-unknown": (None, b"imm.x-tahoe-future:imm"),
 "caf\u00e9 \u00e9": (None, b"URI:LIT:mfrgg"),
 "\u00e9z": (None, b"URI:LIT:mfrgg"),
 "Zed": (None, b"URI:LIT:mfrgg"),
}
kids = {}
for name,(w,r) in caps.items():
    node = nm.create_from_cap(w, r, name=name)
    kids[name] = (node, {"tahoe": {"linkcrtime": 1234567890.5, "linkmotime": 1234567891.25}, "k\u00e9y": [1, "v"]})
packed = dirnode.pack_children(kids, wk)
immkids = {n:v for n,v in kids.items() if n in ("lit","chk","imm-unknown","Zed")}
packed_imm = dirnode.pack_children(immkids, None, deep_immutable=True)
json.dump({"writekey": base64.b64encode(wk).decode(), "caps": {n:[(w or b"").decode(), (r or b"").decode()] for n,(w,r) in caps.items()},
           "packed": base64.b64encode(packed).decode(), "packed_immutable": base64.b64encode(packed_imm).decode(),
           "immutable_names": sorted(immkids)}, sys.stdout, indent=1)

#!/usr/bin/env python3
"""Independent check of tree-vectors.json against cryptree/SPEC.md §10-§16,
written from the spec with pyca/cryptography (>= 44), not from the Go code.
Usage: python3 crosscheck_tree.py [tree-vectors.json]"""
import base64, hashlib, json, os, struct, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "tree-vectors.json")
v = json.load(open(path))
h = bytes.fromhex
RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw
n = 0

def check(cond, what):
    global n
    n += 1
    if not cond:
        sys.exit("FAIL: " + what)

def hkdf(ikm, info, length, salt=None):
    return HKDF(hashes.SHA256(), length, salt, info.encode()).derive(ikm)

def b32(b):
    return base64.b32encode(b).decode().rstrip("=").lower()

def stream(start, k):
    return bytes((start + i) % 256 for i in range(k))

def pad(x):
    m = len(x) + 1
    if m <= 1024: p = 1024
    elif m <= 1 << 20:
        p = 1024
        while p < m: p <<= 1
    else: p = -(-m // (1 << 20)) * (1 << 20)
    return x + b"\x80" + b"\0" * (p - m)

def unpad(b):
    i = len(b.rstrip(b"\0")) - 1
    assert b[i] == 0x80 and pad(b[:i]) == b
    return b[:i]

def open_rec(key, rec, ad):
    assert rec[0] == 1
    return AESGCM(key).decrypt(rec[1:13], rec[13:], b"\x01" + ad)

# §10 folder bodies: parse with the spec's layout, open every part.
bodies = {}
for c in v["folder_body"]:
    fid, sk, wk = h(c["id"]), h(c["sk"]), h(c["wk"])
    plain = c["plain"]
    body = h(c["body"])
    content = unpad(body)
    check(content[0] == 1, "body version")
    sid = content[1:17]
    check(sid == stream(c["rnd_start"], 16), "seal id is the first random bytes")
    ad = lambda p, label=b"": b"cairn folder v1\0" + bytes([p]) + fid + sid + label
    off = 17
    parts = []
    for _ in range(6):
        (l,) = struct.unpack(">I", content[off:off + 4]); parts.append(content[off + 4:off + 4 + l]); off += 4 + l
    (nf,) = struct.unpack(">I", content[off:off + 4]); off += 4
    files = []
    for _ in range(nf):
        label = content[off:off + 16]; (l,) = struct.unpack(">I", content[off + 16:off + 20])
        files.append((label, content[off + 20:off + 20 + l])); off += 20 + l
    check(off == len(content), "no trailing bytes")
    keys = open_rec(sk, parts[0], ad(1))
    check((keys[0:16], keys[16:32], keys[32:48]) == (h(c["fk"]), h(c["dk"]), h(c["bk"])), "keys part")
    info = open_rec(h(c["dk"]), parts[1], ad(2))
    check(info[13:].decode() == plain["Name"] and info[12] == len(info) - 13, "info name")
    if plain["Parent"]:
        back = open_rec(h(c["bk"]), parts[2], ad(3))
        check(list(back[:32]) == plain["Parent"]["ID"], "backlink")
    dirs = open_rec(sk, parts[3], ad(4))
    (nd,) = struct.unpack(">I", dirs[:4])
    check(nd == len(plain["Dirs"] or []), "dir count")
    p = 4
    for d in plain["Dirs"] or []:
        ln = dirs[p + 64]
        check(list(dirs[p:p + 16]) == d["Label"] and list(dirs[p + 16:p + 48]) == d["ID"] and
              dirs[p + 65:p + 65 + ln].decode() == d["Name"], "dir entry")
        p += 65 + ln
    writers = open_rec(wk, parts[4], ad(5))
    for i in range(struct.unpack(">I", writers[:4])[0]):
        seed = writers[4 + 64 * i + 16:4 + 64 * i + 48]
        pub = ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(*RAW)
        check(any(list(pub) == d["ID"] for d in plain["Dirs"]), "writer seed gives the child id")
    fkeys = open_rec(h(c["fk"]), parts[5], ad(6))
    byname = {f["Meta"]["Name"]: f for f in plain["Files"] or []}
    for i, (label, sealed) in enumerate(files):
        e = fkeys[4 + 33 * i:4 + 33 * (i + 1)]
        check(e[:16] == label, "file key label")
        meta = open_rec(e[16:32], sealed, ad(7, label))
        name = meta[2:2 + meta[1]].decode()
        check(name in byname and list(label) == byname[name]["Label"] and e[32] == int(byname[name]["Dirty"]), "file meta")
    bodies[c["id_string"]] = body
    check(b32(fid) == c["id_string"], "folder id string")

# §11 folder records.
for c in v["folder_record"]:
    sk = ed25519.Ed25519PrivateKey.from_private_bytes(h(c["signing_seed"]))
    pub = sk.public_key().public_bytes(*RAW)
    val = h(c["value"])
    head = b"\x01" + pub + struct.pack(">QI", c["seq"], len(val)) + val
    check(head + sk.sign(b"cairn folder record v1\0" + head) == h(c["record"]), "folder record")
    check(h(c["record_key"]) == b"/cairn-folder/" + pub, "record key")

# §12-13 capabilities and links.
for c in v["capability"]:
    m = h(c["marshal"])
    if m[1] == 1:  # a folder: the read-only part, write flag 0
        ln = m[34]
        ro = m[:35 + ln + 16] + b"\0"
    else:
        ro = m
    link = "cairn://" + b32(ro + hashlib.sha256(b"cairn link v1\0" + ro).digest()[:4])
    check(link == c["link"], "link")

# §14 sealed messages.
for c in v["sealed_message"]:
    S = ed25519.Ed25519PrivateKey.from_private_bytes(h(c["sender_seed"]))
    B = h(c["recipient_box_public"])
    e = x25519.X25519PrivateKey.from_private_bytes(stream(c["rnd_start"], 32))
    E = e.public_key().public_bytes(*RAW)
    shared = e.exchange(x25519.X25519PublicKey.from_public_bytes(B))
    key = hkdf(shared, "cairn sealed message v1", 16, salt=E + B)
    pt = h(c["plaintext"])
    sig = S.sign(b"cairn sealed message v1\0" + E + B + pt)
    inner = S.public_key().public_bytes(*RAW) + sig + pt
    check(b"\x01" + E + AESGCM(key).encrypt(b"\0" * 12, inner, b"\x01" + E) == h(c["sealed"]), "sealed message")

for c in v["inbox_id"]:
    check(hashlib.sha256(b"cairn inbox v1\0" + h(c["ed25519_public"])).digest() == h(c["inbox_id"]), "inbox id")

# §16 root folder.
for c in v["root_folder"]:
    R = h(c["root"])
    seed = hkdf(R, "cairn keyring v1 root-folder ed25519", 32)
    check(seed == h(c["signing_seed"]), "root signing seed")
    pub = ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(*RAW)
    check(b32(pub) == c["id"], "root id")
    for k in ("wk", "sk", "fk", "dk", "bk"):
        check(hkdf(R, "cairn keyring v1 root-folder " + k, 16) == h(c[k]), "root " + k)

# §15 padding.
for c in v["pad"]:
    check(len(pad(b"\0" * c["len"])) == c["padded_len"], "padded size")
    if c.get("sample"):
        check(pad(unpad(h(c["sample"]))) == h(c["sample"]), "pad sample")

print(f"ok: {n} checks")

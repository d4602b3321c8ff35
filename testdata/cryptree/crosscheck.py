#!/usr/bin/env python3
"""Independent check of vectors.json and padded-chunk-vectors.json (read from
the same directory) against cryptree/SPEC.md, written from the spec with
pyca/cryptography (>= 44). BLAKE3 (the derive section) is not in that
library and is skipped. Usage: python3 crosscheck.py [vectors.json]"""
import base64, hashlib, json, os, struct, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "vectors.json")
v = json.load(open(path))
h = bytes.fromhex
raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
n = 0

def check(cond, what):
    global n
    n += 1
    if not cond:
        sys.exit("FAIL: " + what)

def record(key, nonce, pt, ad):
    return b"\x01" + nonce + AESGCM(key).encrypt(nonce, pt, b"\x01" + ad)

for c in v["seal_chunk"]:
    want = b"\x01" + AESGCM(h(c["key"])).encrypt(b"\0" * 12, h(c["plaintext"]), b"\x01")
    check(want == h(c["sealed"]), "seal_chunk")
for c in v["open_chunk_fail"]:
    s = h(c["sealed"])
    try:
        ok = len(s) >= 17 and s[0] == 1 and AESGCM(h(c["key"])).decrypt(b"\0" * 12, s[1:], b"\x01") is not None
    except Exception:
        ok = False
    check(not ok, "open_chunk_fail " + c["why"])
for c in v["record"]:
    check(record(h(c["key"]), h(c["nonce"]), h(c["plaintext"]), h(c["ad"])) == h(c["sealed"]), "record")
for c in v["keyring"]:
    root = h(c["root"])
    d = lambda info, n: HKDF(hashes.SHA256(), n, None, info.encode()).derive(root)
    check(d("cairn keyring v1 chunk-secret", 32) == h(c["chunk_secret"]), "chunk secret")
    seed = d("cairn keyring v1 ed25519-identity", 32)
    check(seed == h(c["signing_seed"]), "signing seed")
    spub = ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(*raw)
    check(spub == h(c["signing_public"]), "signing public")
    bp = bytearray(d("cairn keyring v1 x25519-box", 32))
    bp[0] &= 248; bp[31] &= 127; bp[31] |= 64
    check(bytes(bp) == h(c["box_private"]), "box private")
    bpub = x25519.X25519PrivateKey.from_private_bytes(bytes(bp)).public_key().public_bytes(*raw)
    check(bpub == h(c["box_public"]), "box public")
    check(d("cairn keyring v1 metadata-key", 16) == h(c["metadata_key"]), "metadata key")
    payload = spub + bpub
    ck = hashlib.sha256(b"cairn user id v1" + payload).digest()[:4]
    check("cu1" + base64.b32encode(payload + ck).decode().rstrip("=").lower() == c["user_id"], "user id")
    ck = hashlib.sha256(b"cairn recovery secret v1" + root).digest()[:3]
    enc = base64.b32encode(root + ck).decode()
    check("-".join(enc[i:i + 4] for i in range(0, 56, 4)) == c["recovery_secret"], "recovery secret")
for c in v["keyring_file"]:
    salt = h(c["salt"])
    hdr = b"CAIRNKR\x01" + struct.pack(">IIB", c["time"], c["memory_kib"], c["threads"]) + salt
    kek = Argon2id(salt=salt, length=16, iterations=c["time"], lanes=c["threads"],
                   memory_cost=c["memory_kib"]).derive(h(c["passphrase"]))
    check(hdr + record(kek, h(c["nonce"]), h(c["root"]), hdr) == h(c["file"]), "keyring file")

# padded-chunk-vectors.json: version 0x02 sealed chunks (SPEC.md §2) and the
# chunker key (§5).
def padme(l):
    if l < 2:
        return l
    e = l.bit_length() - 1
    s = e.bit_length()
    m = (1 << (e - s)) - 1
    return (l + m) & ~m

def padded_size(n):
    return padme(n + 18)

def open_padded(key, s):
    """The plaintext of a version 0x02 chunk, or None."""
    if len(s) < 18 or s[0] != 2:
        return None
    try:
        body = AESGCM(key).decrypt(b"\0" * 11 + b"\x02", s[1:], b"\x02")
    except Exception:
        return None
    c = body.rstrip(b"\0")
    if not c.endswith(b"\x80") or padded_size(len(c) - 1) != len(s):
        return None
    return c[:-1]

pv = json.load(open(os.path.join(os.path.dirname(path), "padded-chunk-vectors.json")))
for a, b in pv["padded_chunk_size"]:
    check(padded_size(a) == b, "padded_chunk_size %d" % a)
for c in pv["seal_chunk_padded"]:
    pt = h(c["plaintext"])
    body = pt + b"\x80" + b"\0" * (padded_size(len(pt)) - len(pt) - 18)
    want = b"\x02" + AESGCM(h(c["key"])).encrypt(b"\0" * 11 + b"\x02", body, b"\x02")
    check(want == h(c["sealed"]), "seal_chunk_padded")
    check(open_padded(h(c["key"]), want) == pt, "open padded")
for c in pv["open_chunk_padded_fail"]:
    check(open_padded(h(c["key"]), h(c["sealed"])) is None, "open_chunk_padded_fail " + c["why"])
for c in pv["open_chunk_v1"]:
    s = h(c["sealed"])
    check(s[0] == 1 and AESGCM(h(c["key"])).decrypt(b"\0" * 12, s[1:], b"\x01") == h(c["plaintext"]), "open_chunk_v1")
for c in pv["chunker_key"]:
    ck = HKDF(hashes.SHA256(), 32, None, b"cairn keyring v1 chunker-key").derive(h(c["root"]))
    check(ck == h(c["chunker_key"]), "chunker key")
print("ok: %d checks (derive section skipped: no BLAKE3 here)" % n)

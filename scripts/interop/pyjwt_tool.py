#!/usr/bin/env python3
"""Mint and verify hotswap reload tokens with PyJWT and cryptography: an implementation nobody here wrote.

  mint    --key FILE --alg EdDSA|HS256 --sha256 HEX [--kid K] [--aud A] [--no-typ]
  verify  --key FILE --alg EdDSA|HS256 --aud A --token T     (prints the claims as JSON; exit 1 if invalid)
  crafted --key PRIVATE.pem --pub PUBLIC.pem --sha256 HEX --kid K
          prints [{"reason": ..., "token": ...}] with one token per refusal reason
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

TYP = "hotswap-reload+jwt"


def read_key(path, alg):
    data = open(path, "rb").read()
    # hotswap's rule for secret files: trailing whitespace (the newline editors add) is not part of the secret.
    return data.rstrip(b" \t\r\n") if alg == "HS256" else data


def claims(sha, aud="hotswap-gateway", **over):
    now = int(time.time())
    c = {"iss": "pyjwt", "aud": aud, "iat": now, "exp": now + 60, "jti": os.urandom(16).hex(), "op": "reload", "sha256": sha}
    c.update(over)
    return c


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def manual(header, payload, sign):
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())
    return signing_input + "." + b64(sign(signing_input.encode()))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["mint", "verify", "crafted"])
    p.add_argument("--key")
    p.add_argument("--pub")
    p.add_argument("--alg", default="EdDSA")
    p.add_argument("--sha256")
    p.add_argument("--kid")
    p.add_argument("--aud", default="hotswap-gateway")
    p.add_argument("--no-typ", action="store_true")
    p.add_argument("--token")
    a = p.parse_args()

    if a.command == "mint":
        headers = {} if a.no_typ else {"typ": TYP}
        if a.kid:
            headers["kid"] = a.kid
        print(jwt.encode(claims(a.sha256, a.aud), read_key(a.key, a.alg), algorithm=a.alg, headers=headers))
    elif a.command == "verify":
        try:
            header = jwt.get_unverified_header(a.token)
            decoded = jwt.decode(a.token, read_key(a.key, a.alg), algorithms=[a.alg], audience=a.aud)
        except jwt.PyJWTError as e:
            print(f"invalid: {e}", file=sys.stderr)
            sys.exit(1)
        print(json.dumps({"header": header, "claims": decoded}))
    else:
        key = read_key(a.key, "EdDSA")
        pub = open(a.pub, "rb").read()
        h = {"typ": TYP, "kid": a.kid}
        other_sha = hashlib.sha256(b"something else").hexdigest()
        now = int(time.time())
        other_key = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        out = [
            ("malformed", "abc.def"),
            ("malformed", "bm90IGpzb24.e30.c2ln"),
            ("unknown_key", jwt.encode(claims(a.sha256), key, algorithm="EdDSA", headers={"typ": TYP, "kid": "nobody"})),
            ("alg_mismatch", jwt.encode(claims(a.sha256), None, algorithm="none", headers=h)),
            # The classic algorithm confusion: HS256 keyed with the public key's PEM text. PyJWT refuses to
            # do this, so the token is made by hand.
            ("alg_mismatch", manual({"alg": "HS256", **h}, claims(a.sha256),
                                    lambda m: hmac.new(pub, m, hashlib.sha256).digest())),
            ("bad_signature", jwt.encode(claims(a.sha256), other_key, algorithm="EdDSA", headers=h)),
            ("wrong_type", jwt.encode(claims(a.sha256), key, algorithm="EdDSA", headers={"kid": a.kid})),
            ("wrong_audience", jwt.encode(claims(a.sha256, aud="someone-else"), key, algorithm="EdDSA", headers=h)),
            ("expired", jwt.encode(claims(a.sha256, iat=now - 600, exp=now - 300), key, algorithm="EdDSA", headers=h)),
            ("not_yet_valid", jwt.encode(claims(a.sha256, iat=now + 600, exp=now + 660), key, algorithm="EdDSA", headers=h)),
            ("ttl_too_long", jwt.encode(claims(a.sha256, exp=now + 3600), key, algorithm="EdDSA", headers=h)),
            ("wrong_op", jwt.encode(claims(a.sha256, op="server.stop"), key, algorithm="EdDSA", headers=h)),
            ("hash_mismatch", jwt.encode(claims(other_sha), key, algorithm="EdDSA", headers=h)),
        ]
        print(json.dumps([{"reason": r, "token": t} for r, t in out]))


if __name__ == "__main__":
    main()

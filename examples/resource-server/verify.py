"""Verifying Gatehouse access tokens in a Python API with PyJWT and the tenant's JWKS.
Needs `PyJWT[crypto]` (and nothing else: introspection uses the standard library).
Run by tests/api/resource_server.rs; quoted in docs/resource-server.md.

    ISSUER=http://127.0.0.1:8080/t/default TOKEN=eyJ... python3 verify.py
"""
import base64
import json
import os
import urllib.parse
import urllib.request

import jwt  # PyJWT

ISSUER = os.environ["ISSUER"]  # e.g. https://id.example.com/t/acme
# Caches the keys and fetches them again when a token names an unknown `kid` (key rotation).
jwks = jwt.PyJWKClient(f"{ISSUER}/.well-known/jwks.json")


def verify(token: str) -> dict:
    """Signature, `typ`, `iss`, `aud` (the issuer) and `exp`/`nbf`; raises jwt.PyJWTError (a bad
    token, or a key this tenant never published). Says nothing about logout: see `is_active`."""
    if jwt.get_unverified_header(token).get("typ") != "at+jwt":
        raise jwt.InvalidTokenError("not an access token")
    key = jwks.get_signing_key_from_jwt(token)
    # The key's own algorithm, never the one the token claims.
    return jwt.decode(token, key, algorithms=[key.algorithm_name], issuer=ISSUER, audience=ISSUER,
                      leeway=30, options={"require": ["exp", "iat", "sub", "jti"]})


def is_active(token: str, client_id: str, client_secret: str) -> bool:
    """RFC 7662 introspection with the API's own client credentials: False once the token is
    logged out or revoked, which local verification cannot see."""
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    request = urllib.request.Request(
        f"{ISSUER}/oauth2/introspect",
        data=urllib.parse.urlencode({"token": token}).encode(),
        headers={"Authorization": f"Basic {basic}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)["active"]


if __name__ == "__main__":
    token = os.environ["TOKEN"]
    try:
        claims = verify(token)
        print(f"local: valid sub={claims['sub']}")
    except jwt.PyJWTError as e:
        print(f"local: rejected ({e})")
    if "CLIENT_ID" in os.environ:
        active = is_active(token, os.environ["CLIENT_ID"], os.environ["CLIENT_SECRET"])
        print(f"introspection: {'active' if active else 'inactive'}")

"""Keyed pseudonyms (HMAC-SHA256) of ID numbers, computed inside DuckDB over whole columns.

A pseudonym is a prefix letter and 20 letters a-p, so it can never be mistaken for (or
reversed into) an ID number without the key, which lives only in the restricted state.
"""

from __future__ import annotations

HMAC_BLOCK_BYTES = 64
PSEUDONYM_LETTERS = 20
PSEUDONYM_PREFIXES = {
    "child_id_number": "C",
    "mother_id_number": "M",
    "father_id_number": "F",
    "person": "P",
}


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """RFC 2104 inner and outer padded keys."""
    if len(key) > HMAC_BLOCK_BYTES:
        import hashlib

        key = hashlib.sha256(key).digest()
    key = key.ljust(HMAC_BLOCK_BYTES, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def hmac_hex_sql(value_sql: str, key: bytes) -> str:
    """SQL for the hex HMAC-SHA256 of a VARCHAR expression (null stays null)."""
    inner, outer = hmac_pads(key)
    return (
        f"sha256(unhex('{outer.hex()}') || unhex(sha256(unhex('{inner.hex()}') "
        f"|| encode({value_sql}))))"
    )


def pseudonym_sql(value_sql: str, key: bytes, prefix: str) -> str:
    """SQL for a pseudonym like `Mbfkcpa...`: the prefix then 20 letters a-p."""
    return (
        f"CASE WHEN {value_sql} IS NULL THEN NULL ELSE '{prefix}' || translate("
        f"substr({hmac_hex_sql(value_sql, key)}, 1, {PSEUDONYM_LETTERS}), "
        "'0123456789abcdef', 'abcdefghijklmnop') END"
    )

"""Native, frozen, fully resolved settings: what runs, in bascule's own names.

Tyk's shapes stop in `bascule.compat.tyk`; everything after the translation reads these types.
"""

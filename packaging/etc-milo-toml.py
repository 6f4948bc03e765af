#!/usr/bin/env python3
"""Writes the packaged /etc/milo/milo.toml: config/milo.toml (every key, its default and what it
means) with the paths a packaged install uses. Fails if config/milo.toml's lines it rewrites
have moved, so the package never ships a file that silently kept the development paths."""
import sys

src, dst = sys.argv[1], sys.argv[2]
text = open(src, encoding="utf-8").read()
header_end = text.index("\n\n") + 1
header = """# Milo's configuration on this board, installed by the milo package (a conffile: your edits
# survive upgrades). Every key is listed with its default and what it means; change what you
# need, then `sudo -u milo milo config validate` and `systemctl restart milo.target` (or your
# milo-barista@<station> unit). Any key can also be set from the environment:
# MILO_<SECTION>__<KEY>. Unknown keys are refused by name.
#
# Security is on: the broker speaks only TLS, with a certificate made at install
# (/etc/milo/tls-cert.pem: copy it to every board that runs a part), and every part connects
# with its own credential from
# /etc/milo/credentials.toml (made at install by `milo credentials init`), the broker's gate
# accepts each event only from the part that may say it, and anonymous clients are refused.
# A bar board runs only `milo-barista@<station>.service`: on the store server set [broker]
# listen to "0.0.0.0:1883" and run `milo credentials add station <station>`; on the board set
# [mqtt] address to the server's broker (e.g. "192.168.1.10:1883"), put the printed file at
# /etc/milo/credentials.toml and a copy of the server's /etc/milo/tls-cert.pem at the same path
# (docs/RASPBERRY-PI.md, "Add a bar board", in /usr/share/doc/milo).
"""
replacements = [
    ('tls = false\n', 'tls = true                   # the broker speaks only TLS (certificate made at install)\n'),
    ('tls_cert = ""                # empty: tls-cert.pem beside the credentials file (mode 0644); a\n',
     'tls_cert = "/etc/milo/tls-cert.pem"   # made at install (`milo credentials cert`); a\n'),
    ('tls_key = ""                 # empty: tls-key.pem beside it (mode 0640; the store server only)\n',
     'tls_key = "/etc/milo/tls-key.pem"     # made at install, mode 0640 (the store server only)\n'),
    ('data_dir = "./data"\n', 'data_dir = "/var/lib/milo"   # the units\' StateDirectory\n'),
    ('menu = ""\n', 'menu = "/etc/milo/menu.toml"\n'),
    ('credentials = ""             # empty: data_dir/credentials.toml, made by `milo up` if missing\n',
     'credentials = "/etc/milo/credentials.toml"   # made at install (`milo credentials init`)\n'),
    ('anonymous = true             # clients without a credential may read (never write); loopback only\n',
     'anonymous = false            # every client needs a credential (the operator\'s: `milo credentials show operator`)\n'),
]
body = text[header_end:]
for old, new in replacements:
    if body.count(old) != 1:
        sys.exit(f"{src}: expected exactly one line {old.strip()!r} to rewrite for the package")
    body = body.replace(old, new)
open(dst, "w", encoding="utf-8").write(header + body)

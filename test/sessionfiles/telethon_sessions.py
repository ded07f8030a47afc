#!/usr/bin/env python3
"""
Writes real Telethon .session files with Telethon itself (Debian's
python3-telethon) and prints, as JSON, what Telethon's own
StringSession.save() makes of each session: the reference the telethon
strings TeleGate makes must equal.

Usage: python3 telethon_sessions.py OUTDIR < specs.json
       python3 telethon_sessions.py --load < strings.json   what Telethon loads from each string
A spec: {"name", "dc_id", "address", "port", "self": {"id", "phone", "bot"}?, "sidecar": {...}?}
"self" is saved the way Telethon >= 1.28 saves its own user when it
disconnects (entity id 0 whose hash is the user id), plus the User object as
Telethon stores every user it sees (with its phone).
"""
import json
import os
import sys

from telethon import types
from telethon.crypto import AuthKey
from telethon.sessions import SQLiteSession, StringSession


def write(outdir, spec):
    path = os.path.join(outdir, spec['name'])
    session = SQLiteSession(path)  # Telethon adds ".session"
    session.set_dc(spec['dc_id'], spec['address'], spec['port'])
    key = os.urandom(256)
    session.auth_key = AuthKey(key)
    me = spec.get('self')
    if me is not None:
        session.process_entities(types.contacts.ResolvedPeer(None, [types.InputPeerUser(0, me['id'])], []))
        session.process_entities([types.User(
            id=me['id'], access_hash=int.from_bytes(os.urandom(7), 'big'), is_self=True,
            bot=me.get('bot', False), phone=me.get('phone'), first_name='Self')])
    session.save()
    out = {'key': key.hex(), 'string': StringSession.save(session)}
    session.close()
    if 'sidecar' in spec:
        with open(path + '.json', 'w') as f:
            json.dump(spec['sidecar'], f)
    return out


def load(string):
    session = StringSession(string)
    return {'dc_id': session.dc_id, 'server_address': session.server_address,
            'port': session.port, 'key': session.auth_key.key.hex()}


def main():
    if sys.argv[1] == '--load':
        print(json.dumps([load(s) for s in json.load(sys.stdin)]))
        return
    outdir = sys.argv[1]
    print(json.dumps({spec['name']: write(outdir, spec) for spec in json.load(sys.stdin)}))


if __name__ == '__main__':
    main()

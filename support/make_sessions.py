#!/usr/bin/env python3
"""
Fixture generator for test/sessionfiles: writes Telethon / Pyrogram .session
files (plus optional sidecar .json) with random auth keys, and prints, as JSON,
what a correct reader must find in each one, including the session string
computed here, independently of the TypeScript implementation, the way Telethon
(telethon/sessions/string.py, StringSession.save) and Pyrogram
(pyrogram/storage/storage.py, export_session_string) encode it.

Standard library only (sqlite3, struct, base64, os.urandom).

Usage:
  python3 make_sessions.py OUTDIR < specs.json     one file per spec (see below)
  python3 make_sessions.py --bulk N OUTDIR         N Telethon v7 files, for benchmarks

A spec is an object with "name" and "kind":
  telethon   version (7), dc_id, server_address, port, key_len (256; null -> NULL key),
             self_id (entities row id=0; omitted -> no row), entities (extra rows),
             no_row, wal, no_takeout (versions < 4 had no takeout_id column),
             migrated (takeout_id added by ALTER TABLE after the row), rowid (no
             "without rowid"), telethon_sql (multi-line CREATE TABLE text),
             page_size, encoding, auto_vacuum, unicode_names (entity names)
  telethon2  Telethon v2 (version 10): dcs [[id, addr, key_len]], user {id, dc, bot}
  pyrogram   version (3), dc_id, api_id (null), test_mode, user_id, is_bot, key_len,
             kurigram (adds server_address/port columns and the v4+ tables)
  other      an SQLite file with an unrelated schema
and optionally "sidecar" (object, written as JSON) or "sidecar_text" (raw text).
"""
import base64
import ipaddress
import json
import os
import sqlite3
import struct
import sys

PROD = {1: '149.154.175.53', 2: '149.154.167.51', 3: '149.154.175.100',
        4: '149.154.167.91', 5: '91.108.56.130'}


def key_of(spec):
    n = spec.get('key_len', 256)
    return None if n is None else os.urandom(n)


def telethon_string(dc_id, address, port, key):
    ip = ipaddress.ip_address(address).packed
    return '1' + base64.urlsafe_b64encode(
        struct.pack('>B{}sH256s'.format(len(ip)), dc_id, ip, port, key)).decode('ascii')


def pyrogram_string(dc_id, api_id, test_mode, key, user_id, is_bot):
    return base64.urlsafe_b64encode(struct.pack(
        '>BI?256sQ?', dc_id, api_id, test_mode, key, user_id, is_bot)).decode().rstrip('=')


def write_telethon(path, spec):
    version = spec.get('version', 7)
    dc_id = spec.get('dc_id', 2)
    address = spec.get('server_address', PROD.get(dc_id, '149.154.167.51'))
    port = spec.get('port', 443)
    key = key_of(spec)
    conn = sqlite3.connect(path)
    c = conn.cursor()
    if spec.get('page_size'):
        c.execute('pragma page_size=%d' % spec['page_size'])
    if spec.get('encoding'):
        c.execute("pragma encoding='%s'" % spec['encoding'])
    if spec.get('auto_vacuum'):
        c.execute('pragma auto_vacuum=1')
    # Telethon adds " without rowid" when SQLite >= 3.8.2 (rowid: as with an older one).
    extra = '' if spec.get('rowid') else ' without rowid'

    def create(definition):
        if spec.get('telethon_sql'):  # laid out over lines, as Telethon's source writes it
            head, _, body = definition.partition(' (')
            definition = (head + ' (\n                    ' + body[:-1].replace(', ', ',\n                    ')
                          + '\n                )')
        c.execute('create table ' + definition + extra)

    c.execute('create table version (version integer primary key)' + (extra if spec.get('telethon_sql') else ''))
    c.execute('insert into version values (?)', (version,))
    short = spec.get('no_takeout') or spec.get('migrated')
    if short:
        create('sessions (dc_id integer primary key, server_address text, port integer, auth_key blob)')
    else:
        create('sessions (dc_id integer primary key, server_address text, port integer, auth_key blob, takeout_id integer)')
    create('entities (id integer primary key, hash integer not null, username text, phone integer, name text, date integer)')
    create('sent_files (md5_digest blob, file_size integer, type integer, id integer, hash integer, '
           'primary key(md5_digest, file_size, type))')
    create('update_state (id integer primary key, pts integer, qts integer, date integer, seq integer)')
    if not spec.get('no_row'):
        if short:
            c.execute('insert into sessions values (?,?,?,?)', (dc_id, address, port, key))
        else:
            c.execute('insert into sessions values (?,?,?,?,?)', (dc_id, address, port, key, None))
    if spec.get('migrated'):  # Telethon's upgrade to version 4 adds the column to existing rows
        c.execute('alter table sessions add column takeout_id integer')
    unicode_names = spec.get('unicode_names')
    for i in range(spec.get('entities', 0)):
        # Channels and chats have negative ("marked") ids in Telethon.
        eid = (1000 + i) if i % 3 else -(1000000000000 + i)
        name = ('Имя %d 🚀' % i) if unicode_names else 'User %d' % i
        c.execute('insert into entities values (?,?,?,?,?,?)',
                  (eid, int.from_bytes(os.urandom(7), 'big'), 'user%d' % i, None, name, 0))
    self_id = spec.get('self_id')
    if self_id is not None:
        c.execute('insert into entities values (?,?,?,?,?,?)', (0, self_id, None, None, None, 0))
    c.execute('insert into update_state values (0, 1, 0, 0, 1)')
    conn.commit()
    if spec.get('wal'):
        c.execute('pragma journal_mode=wal')
    conn.close()
    out = {'format': 'telethon', 'dc_id': dc_id}
    if self_id is not None:
        out['user_id'] = self_id
    if key is not None and len(key) == 256 and not spec.get('no_row'):
        try:
            out['session_string'] = telethon_string(dc_id, address, port, key)
        except ValueError:
            pass  # not an IP literal: Telethon's StringSession.save() cannot encode it either
    return out


def write_telethon2(path, spec):
    dcs = spec.get('dcs', [[2, '149.154.167.51:443', 256]])
    user = spec.get('user')
    conn = sqlite3.connect(path)
    c = conn.cursor()
    c.executescript('''
        create table version (version integer primary key);
        create table datacenter (id integer primary key, addr text not null, auth blob);
        create table user (id integer primary key, dc integer not null, bot integer not null);
        create table state (pts integer not null, qts integer not null, date integer not null, seq integer not null);
        create table channelstate (id integer primary key, pts integer not null);
    ''')
    c.execute('insert into version values (10)')
    keys = {}
    for dc_id, addr, key_len in dcs:
        key = None if key_len is None else os.urandom(key_len)
        keys[dc_id] = (addr, key)
        c.execute('insert into datacenter values (?,?,?)', (dc_id, addr, key))
    if user:
        c.execute('insert into user values (?,?,?)', (user['id'], user['dc'], int(user.get('bot', False))))
    conn.commit()
    conn.close()
    home = user['dc'] if user else dcs[0][0]
    addr, key = keys[home]
    host, _, port = addr.rpartition(':')
    host = host.strip('[]')
    out = {'format': 'telethon', 'dc_id': home}
    if user:
        out['user_id'] = user['id']
    if key is not None and len(key) == 256:
        out['session_string'] = telethon_string(home, host, int(port), key)
    return out


def write_pyrogram(path, spec):
    version = spec.get('version', 3)
    dc_id = spec.get('dc_id', 2)
    api_id = spec.get('api_id')
    test_mode = bool(spec.get('test_mode', False))
    user_id = spec.get('user_id')
    is_bot = bool(spec.get('is_bot', False))
    key = key_of(spec)
    kurigram = spec.get('kurigram', False)
    has_api_id = version >= 3
    conn = sqlite3.connect(path)
    c = conn.cursor()
    cols = ['dc_id INTEGER PRIMARY KEY']
    if kurigram:
        cols += ['server_address TEXT', 'port INTEGER']
    if has_api_id:
        cols += ['api_id INTEGER']
    cols += ['test_mode INTEGER', 'auth_key BLOB', 'date INTEGER NOT NULL', 'user_id INTEGER', 'is_bot INTEGER']
    c.execute('CREATE TABLE sessions (%s)' % ', '.join(cols))
    c.execute('CREATE TABLE peers (id INTEGER PRIMARY KEY, access_hash INTEGER, type INTEGER NOT NULL,'
              ' username TEXT, phone_number TEXT, last_update_on INTEGER NOT NULL DEFAULT 0)')
    c.execute('CREATE TABLE version (number INTEGER PRIMARY KEY)')
    if kurigram:
        c.execute('CREATE TABLE usernames (id INTEGER, username TEXT)')
        c.execute('CREATE TABLE update_state (id INTEGER PRIMARY KEY, pts INTEGER, qts INTEGER, date INTEGER, seq INTEGER)')
    c.execute('INSERT INTO version VALUES (?)', (version,))
    if not spec.get('no_row'):
        row = [dc_id]
        if kurigram:
            row += [spec.get('server_address', PROD.get(dc_id)), 443]
        if has_api_id:
            row += [api_id]
        row += [int(test_mode), key, 1700000000, user_id, int(is_bot)]
        c.execute('INSERT INTO sessions VALUES (%s)' % ','.join('?' * len(row)), row)
    conn.commit()
    conn.close()
    out = {'format': 'pyrogram', 'dc_id': dc_id}
    if user_id is not None:
        out['user_id'] = user_id
    if key is not None and len(key) == 256 and not spec.get('no_row'):
        # The documented api_id rule: session table, else sidecar app_id/api_id, else 0.
        sidecar = spec.get('sidecar') or {}
        eff_api_id = api_id
        if eff_api_id is None:
            eff_api_id = sidecar.get('app_id', sidecar.get('api_id'))
        eff_api_id = int(eff_api_id or 0)
        eff_user = user_id
        if eff_user is None:
            eff_user = sidecar.get('user_id', sidecar.get('id'))
        out['api_id'] = eff_api_id
        out['session_string'] = pyrogram_string(
            dc_id, eff_api_id, test_mode, key, int(eff_user or 0), is_bot)
    return out


def write_other(path, spec):
    conn = sqlite3.connect(path)
    conn.execute('create table notes (id integer primary key, body text)')
    conn.execute("insert into notes values (1, 'hello')")
    conn.commit()
    conn.close()
    return {}


WRITERS = {'telethon': write_telethon, 'telethon2': write_telethon2,
           'pyrogram': write_pyrogram, 'other': write_other}


def main():
    args = sys.argv[1:]
    if args and args[0] == '--bulk':
        n, outdir = int(args[1]), args[2]
        os.makedirs(outdir, exist_ok=True)
        for i in range(n):
            write_telethon(os.path.join(outdir, 's%06d.session' % i),
                           {'dc_id': 1 + i % 5, 'self_id': 100000 + i, 'entities': 40})
        print(json.dumps({'written': n}))
        return
    outdir = args[0]
    os.makedirs(outdir, exist_ok=True)
    result = {}
    for spec in json.load(sys.stdin):
        name = spec['name']
        path = os.path.join(outdir, name + '.session')
        if os.path.exists(path):
            os.remove(path)
        out = result[name] = WRITERS[spec['kind']](path, spec)
        sidecar = spec.get('sidecar')
        if 'user_id' not in out and isinstance(sidecar, dict):
            uid = sidecar.get('user_id', sidecar.get('id'))
            if uid is not None:
                out['user_id'] = int(uid)  # the session has none: the sidecar's counts
        if 'sidecar' in spec:
            with open(os.path.join(outdir, name + '.json'), 'w') as f:
                json.dump(spec['sidecar'], f)
        elif 'sidecar_text' in spec:
            with open(os.path.join(outdir, name + '.json'), 'w') as f:
                f.write(spec['sidecar_text'])
    json.dump(result, sys.stdout)


if __name__ == '__main__':
    main()

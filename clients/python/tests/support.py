"""
Test support: real Telethon .session files and a real TeleGate process
(``node dist/main.js``, embedded in-memory store) on a free loopback port.
(The TypeScript tests write theirs with support/make_sessions.py.)
"""
import json
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MAIN_JS = os.path.join(REPO, 'dist', 'main.js')


def make_telethon_session(path):
    """A minimal, valid Telethon (v7) session file with a random 256-byte auth key."""
    conn = sqlite3.connect(path)
    try:
        conn.executescript(
            'CREATE TABLE version (version integer primary key);'
            'INSERT INTO version VALUES (7);'
            'CREATE TABLE sessions (dc_id integer primary key, server_address text, port integer,'
            ' auth_key blob, takeout_id integer);'
            'CREATE TABLE entities (id integer primary key, hash integer not null, username text,'
            ' phone integer, name text, date integer);')
        conn.execute('INSERT INTO sessions VALUES (2, ?, 443, ?, NULL)', ('149.154.167.51', os.urandom(256)))
        conn.commit()
    finally:
        conn.close()


def make_sessions(directory, n, prefix='s'):
    """``n`` session files named <prefix>1.session ... ; returns their names (without .session)."""
    os.makedirs(directory, exist_ok=True)
    names = ['{}{}'.format(prefix, i) for i in range(1, n + 1)]
    for name in names:
        make_telethon_session(os.path.join(directory, name + '.session'))
    return names


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=10.0, interval=0.05, what='condition'):
    """Poll ``predicate`` until it returns a truthy value (returned) or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as err:  # keep polling; report the last error on timeout
            last_error = err
        time.sleep(interval)
    raise AssertionError('timed out after {:.1f}s waiting for {}{}'.format(
        timeout, what, '' if last_error is None else ' (last error: {!r})'.format(last_error)))


class TeleGateServer:
    """
    A TeleGate process for one test class. ``api_key`` is a worker key and
    ``admin_key`` an admin key when ``admin_keys=True`` (then /invalidate,
    /restore, /sessions need the admin key); otherwise every key is admin.
    """

    def __init__(self, sessions=3, lease_ttl=3600, admin_keys=False, env=None):
        self.n = sessions
        self.lease_ttl = lease_ttl
        self.api_key = 'worker-' + secrets.token_hex(8)
        self.admin_key = 'admin-' + secrets.token_hex(8) if admin_keys else self.api_key
        self.extra_env = env or {}
        self.proc = None
        self.dir = None
        self.url = None

    def start(self):
        if not os.path.isfile(MAIN_JS):
            raise RuntimeError('{} not found: build the server first (`npm run build`)'.format(MAIN_JS))
        self.dir = tempfile.mkdtemp(prefix='telegate-pyclient-')
        sessions_dir = os.path.join(self.dir, 'sessions')
        self.names = make_sessions(sessions_dir, self.n)
        port = free_port()
        self.url = 'http://127.0.0.1:{}'.format(port)
        keys = [self.api_key] + ([self.admin_key] if self.admin_key != self.api_key else [])
        env = dict(os.environ)
        for k in list(env):
            if k.startswith('TELEGATE_') or k == 'REDIS_URL':
                del env[k]
        env.update({
            'PORT': str(port),
            'TELEGATE_API_KEYS': ','.join(keys),
            'TELEGATE_SESSIONS_DIR': sessions_dir,
            'TELEGATE_LEASE_TTL_SECONDS': str(self.lease_ttl),
            'TELEGATE_REAPER_INTERVAL_MS': '200',
            'LOG_LEVEL': 'warn',
        })
        if self.admin_key != self.api_key:
            env['TELEGATE_ADMIN_KEYS'] = self.admin_key
        env.update(self.extra_env)
        self.log_path = os.path.join(self.dir, 'server.log')
        self._log = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(['node', MAIN_JS], cwd=REPO, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_until(lambda: self._alive() and self._get('/healthz', None)[0] == 200, 20, what='/healthz')
            wait_until(lambda: self.status().get('total') == self.n, 20, what='start-up sync')
        except Exception:
            self.stop()
            raise
        return self

    def _alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError('telegate exited with {}:\n{}'.format(self.proc.returncode, self.log()))
        return True

    def log(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')[-4000:]
        except OSError:
            return ''

    def _get(self, path, key):
        req = urllib.request.Request(self.url + path, headers={'X-API-Key': key} if key else {})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read().decode('utf-8'))
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read().decode('utf-8') or 'null')

    def _post(self, path, params):
        req = urllib.request.Request(self.url + path, data=json.dumps(params).encode(), method='POST',
                                     headers={'X-API-Key': self.admin_key, 'Content-Type': 'application/json'})
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read().decode('utf-8'))

    def status(self):
        return self._get('/status', self.api_key)[1]

    def sessions(self, state=None):
        """{session_id: listed session} from the admin listing."""
        status, body = self._get('/sessions?limit=1000' + ('&state=' + state if state else ''), self.admin_key)
        assert status == 200, body
        return {s['session_id']: s for s in body['sessions']}

    def state_of(self, session_id):
        return self.sessions()[session_id]['state']

    def reset(self):
        """Every session back to free (admin): restore flood waits and invalidations, release leases."""
        for sid, s in self.sessions().items():
            if s['state'] in ('floodwait', 'invalidated'):
                self._post('/restore', {'session_id': sid})
            elif s['state'] == 'in_use':
                self._post('/release', {'session_id': sid})
        wait_until(lambda: self.status()['free'] == self.n, 5, what='all sessions free')

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, '_log', None) is not None:
            self._log.close()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


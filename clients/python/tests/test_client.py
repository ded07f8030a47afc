"""The blocking client against a real TeleGate: the original API, auth, lease tokens, auto-wait."""
import contextlib
import io
import pickle
import threading
import time
import unittest

from telegate_client import (AuthError, LeaseMismatch, NoSessionAvailable, SessionNotFound, TeleGateConnectionError,
                             TelegramSessionManagerClient)

from .support import TeleGateServer, free_port, wait_until


class ServerTestCase(unittest.TestCase):
    server_options = {}

    @classmethod
    def setUpClass(cls):
        cls.server = TeleGateServer(**cls.server_options).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.server.reset()

    def client(self, **kw):
        kw.setdefault('notice', None)
        key = kw.pop('api_key', self.server.api_key)
        return TelegramSessionManagerClient(self.server.url, key, **kw)

    def admin(self, **kw):
        return self.client(api_key=self.server.admin_key, **kw)

    def drain(self):
        """Lease every session (with one client); returns (client, list of session dicts)."""
        c = self.client(auto_wait=False)
        return c, [c.get_session() for _ in range(self.server.n)]


class OriginalApi(ServerTestCase):
    server_options = {'sessions': 3, 'admin_keys': True}

    def test_get_and_release(self):
        c = self.client()
        s = c.get_session()
        self.assertIsInstance(s['session_id'], int)
        self.assertIn(s['session_name'], self.server.names)
        self.assertTrue(s['lease_token'])
        self.assertEqual(c.get_status()['in_use'], 1)
        self.assertEqual(self.server.state_of(s['session_id']), 'in_use')
        self.assertIs(c.release_session(s['session_id']), True)
        self.assertEqual(self.server.state_of(s['session_id']), 'free')
        self.assertIsNone(c.lease_token(s['session_id']))

    def test_status_shape(self):
        st = self.client().get_status()
        for key in ('total', 'free', 'in_use', 'in_floodwait', 'next_available'):
            self.assertIn(key, st)
        self.assertEqual(st['total'], self.server.n)

    def test_release_unknown_or_free_is_true(self):
        # A worker key (this server has admin keys) must send a lease token: a retry sends the last one.
        c = self.client()
        self.assertIs(c.release_session(999999, lease_token='any'), True)
        s = c.get_session()
        self.assertIs(c.release_session(s['session_id']), True)
        self.assertIs(c.release_session(s['session_id'], lease_token=s['lease_token']), True)
        self.assertIs(self.admin().release_session(s['session_id']), True)  # admins need none

    def test_lease_token_is_sent_on_release(self):
        c = self.client()
        s = c.get_session()
        with self.assertRaises(LeaseMismatch) as cm:
            c.release_session(s['session_id'], lease_token='not-the-lease')
        self.assertEqual(cm.exception.status, 409)
        self.assertEqual(cm.exception.session_id, s['session_id'])
        self.assertEqual(self.server.state_of(s['session_id']), 'in_use')

    def test_stale_worker_cannot_free_someone_elses_session(self):
        stale, other = self.client(), self.client()
        s = stale.get_session()
        # Operator frees it (no token), and it goes to another worker.
        self.admin().release_session(s['session_id'])
        taken = [other.get_session()['session_id'] for _ in range(self.server.n)]
        self.assertIn(s['session_id'], taken)
        self.assertEqual(self.server.status()['in_use'], self.server.n)
        with self.assertRaises(LeaseMismatch):
            stale.release_session(s['session_id'])
        self.assertEqual(self.server.state_of(s['session_id']), 'in_use')

    def test_no_auto_wait_raises_at_once_with_original_attributes(self):
        holder, held = self.drain()
        self.admin().report_floodwait(held[0]['session_id'], 120)
        c = self.client(auto_wait=False)
        started = time.monotonic()
        with self.assertRaises(NoSessionAvailable) as cm:
            c.get_session()
        self.assertLess(time.monotonic() - started, 2)
        e = cm.exception
        self.assertEqual(e.waiting_count, 1)
        self.assertTrue(118 <= e.next_release_in <= 120, e.next_release_in)
        self.assertEqual(e.in_use, self.server.n - 1)
        self.assertIn('1 in flood wait', str(e))
        again = pickle.loads(pickle.dumps(e))
        self.assertEqual((again.waiting_count, again.next_release_in, again.in_use),
                         (e.waiting_count, e.next_release_in, e.in_use))

    def test_restore_and_invalidate(self):
        a = self.admin()
        s = a.get_session()
        r = a.invalidate_session(s['session_id'], reason='AUTH_KEY_UNREGISTERED')
        self.assertEqual(r['status'], 'invalidated')
        listed = self.server.sessions()[s['session_id']]
        self.assertEqual((listed['state'], listed['reason']), ('invalidated', 'AUTH_KEY_UNREGISTERED'))
        self.assertEqual(a.restore_session(s['session_id'])['status'], 'restored')
        self.assertEqual(self.server.state_of(s['session_id']), 'free')
        with self.assertRaises(SessionNotFound):
            a.restore_session(999999)

    def test_report_floodwait_uses_the_lease(self):
        c = self.client()
        s = c.get_session()
        r = c.report_floodwait(s['session_id'], 60)
        self.assertEqual((r['status'], r['in_floodwait']), ('floodwait_set', True))
        self.assertEqual(self.server.state_of(s['session_id']), 'floodwait')
        st = c.get_status()
        self.assertEqual(st['in_floodwait'], 1)
        self.assertIsNotNone(st['next_available'])

    def test_release_and_next_is_one_request_per_cycle(self):
        c = self.client(auto_wait=False)
        a = c.get_session()
        b = c.release_and_next(a['session_id'])
        self.assertNotEqual(b['session_id'], a['session_id'])
        self.assertEqual(self.server.state_of(a['session_id']), 'free')
        self.assertIsNone(c.lease_token(a['session_id']))
        self.assertEqual(c.lease_token(b['session_id']), b['lease_token'])
        d = c.floodwait_and_next(b['session_id'], 60)
        self.assertEqual(self.server.state_of(b['session_id']), 'floodwait')
        self.assertEqual(self.server.state_of(d['session_id']), 'in_use')
        with self.assertRaises(LeaseMismatch):
            c.release_and_next(d['session_id'], 'stale')
        self.assertEqual(self.server.state_of(d['session_id']), 'in_use')

    def test_release_and_next_waits_when_the_give_back_left_none_free(self):
        holder, held = self.drain()
        c = self.client(max_wait=20)
        threading.Timer(0.5, holder.release_session, (held[1]['session_id'],)).start()
        s = c.floodwait_and_next(held[0]['session_id'], 600, held[0]['lease_token'])
        self.assertEqual(self.server.state_of(held[0]['session_id']), 'floodwait')
        self.assertEqual(s['session_id'], held[1]['session_id'])

    def test_heartbeat_extends_and_needs_a_lease(self):
        c = self.client()
        s = c.get_session()
        r = c.heartbeat(s['session_id'])
        self.assertEqual(r['status'], 'extended')
        self.assertGreaterEqual(r['lease_expires_at'], s['lease_expires_at'])
        with self.assertRaises(ValueError):
            c.heartbeat(999999)
        with self.assertRaises(LeaseMismatch):
            c.heartbeat(s['session_id'], lease_token='stolen')


class Authentication(ServerTestCase):
    server_options = {'sessions': 1, 'admin_keys': True}

    def test_missing_key_is_401(self):
        c = self.client(api_key='')
        for call in (c.get_session, c.get_status, lambda: c.release_session(1)):
            with self.assertRaises(AuthError) as cm:
                call()
            self.assertEqual(cm.exception.status, 401)
            self.assertEqual(cm.exception.detail, 'API key required')

    def test_unknown_key_is_403(self):
        c = self.client(api_key='wrong-key')
        for call in (c.get_session, c.get_status, lambda: c.release_session(1), lambda: c.report_floodwait(1, 5)):
            with self.assertRaises(AuthError) as cm:
                call()
            self.assertEqual(cm.exception.status, 403)
            self.assertEqual(cm.exception.detail, 'Invalid API key')

    def test_admin_only_endpoints_refuse_worker_keys(self):
        with self.assertRaises(AuthError) as cm:
            self.client().restore_session(1)
        self.assertEqual(cm.exception.status, 403)
        self.assertEqual(self.server.state_of(1), 'free')

    def test_key_goes_in_the_header_for_every_call(self):
        # The original client sent the key as a query parameter for release/status and failed.
        c = self.client()
        s = c.get_session()
        self.assertTrue(c.release_session(s['session_id']))
        self.assertEqual(c.get_status()['free'], 1)


class Transport(unittest.TestCase):
    def test_unreachable_server_raises_after_retries(self):
        c = TelegramSessionManagerClient('http://127.0.0.1:{}'.format(free_port()), 'k', retries=2, backoff=0.01,
                                         notice=None)
        started = time.monotonic()
        with self.assertRaises(TeleGateConnectionError) as cm:
            c.get_status()
        self.assertIsInstance(cm.exception, ConnectionError)
        self.assertLess(time.monotonic() - started, 5)


class AutoWait(ServerTestCase):
    server_options = {'sessions': 2, 'admin_keys': True}

    def test_waits_for_a_release_by_another_client(self):
        # All in use, no flood wait (next_release_in null): the original raised; we wait.
        holder, held = self.drain()
        waiting = threading.Event()
        got = {}

        def worker():
            c = self.client(notice=lambda line: waiting.set(), max_wait=20)
            started = time.monotonic()
            try:
                got['session'] = c.get_session()
            except Exception as err:  # reported by the assertions below
                got['error'] = err
            got['elapsed'] = time.monotonic() - started

        t = threading.Thread(target=worker)
        t.start()
        self.assertTrue(waiting.wait(10), 'the waiting client never said it was waiting')
        released_at = time.monotonic()
        holder.release_session(held[1]['session_id'])
        t.join(15)
        self.assertFalse(t.is_alive())
        self.assertNotIn('error', got)
        self.assertEqual(got['session']['session_id'], held[1]['session_id'])
        # Served by the long-poll as soon as it was released, not by a poll interval.
        self.assertLess(time.monotonic() - released_at, 3)

    def test_waits_out_a_flood_wait_and_prints_a_notice(self):
        holder, held = self.drain()
        holder.report_floodwait(held[0]['session_id'], 2)
        out = io.StringIO()
        c = TelegramSessionManagerClient(self.server.url, self.server.api_key)  # original signature, print notice
        started = time.monotonic()
        with contextlib.redirect_stdout(out):
            s = c.get_session()
        elapsed = time.monotonic() - started
        self.assertEqual(s['session_id'], held[0]['session_id'])
        self.assertGreaterEqual(elapsed, 1.0)
        self.assertLess(elapsed, 8)
        lines = out.getvalue().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn('no free session', lines[0])
        self.assertIn('next release in', lines[0])

    def test_waits_out_a_flood_wait_without_long_poll(self):
        holder, held = self.drain()
        holder.report_floodwait(held[0]['session_id'], 1)
        c = self.client(long_poll=False)
        started = time.monotonic()
        s = c.get_session()
        self.assertEqual(s['session_id'], held[0]['session_id'])
        self.assertLess(time.monotonic() - started, 5)

    def test_max_wait_bounds_the_wait(self):
        holder, held = self.drain()
        for max_wait, long_poll in ((1.5, True), (1.5, False)):
            c = self.client(max_wait=max_wait, long_poll=long_poll)
            started = time.monotonic()
            with self.assertRaises(NoSessionAvailable) as cm:
                c.get_session()
            elapsed = time.monotonic() - started
            self.assertGreaterEqual(elapsed, max_wait - 0.2, (long_poll, elapsed))
            self.assertLess(elapsed, max_wait + 1.5, (long_poll, elapsed))
            self.assertEqual(cm.exception.in_use, self.server.n)
        # per call, too
        started = time.monotonic()
        with self.assertRaises(NoSessionAvailable):
            self.client().get_session(max_wait=0)
        self.assertLess(time.monotonic() - started, 1)

    def test_nothing_can_become_free_raises_at_once(self):
        a = self.admin(max_wait=30)
        for sid in self.server.sessions():
            a.invalidate_session(sid, reason='test')
        started = time.monotonic()
        with self.assertRaises(NoSessionAvailable) as cm:
            a.get_session()
        self.assertLess(time.monotonic() - started, 1.5)
        self.assertEqual((cm.exception.in_use, cm.exception.next_release_in), (0, None))
        self.assertEqual(cm.exception.waiting_count, self.server.n)


if __name__ == '__main__':
    unittest.main()


class SessionStringFormats(ServerTestCase):
    """``format``: the session string in the asked library's format, or session_string_error."""
    server_options = {'sessions': 2, 'env': {'TELEGATE_EXPOSE_SESSION_STRING': 'true'}}

    def test_client_format_and_per_call_override(self):
        import base64
        c = self.client(format='gramjs')
        s = c.get_session()
        raw = base64.b64decode(s['session_string'][1:])  # GramJS: '1' + standard base64
        self.assertEqual(raw[0], 2)  # DC 2
        self.assertEqual(raw[3:3 + int.from_bytes(raw[1:3], 'big')], b'149.154.167.51')
        c.release_session(s['session_id'])
        # The support files are Telethon files without api_id: a Pyrogram string cannot be made honestly.
        s = c.get_session(format='pyrogram')
        self.assertNotIn('session_string', s)
        self.assertIn('api_id', s['session_string_error'])
        c.release_session(s['session_id'])

    def test_context_manager_format(self):
        with self.client().session(format='telethon') as lease:
            self.assertEqual(len(lease.session_string), 353)  # Telethon's IPv4 StringSession
            self.assertIsNone(lease.session_string_error)
        with self.client().session(format='pyrogram') as lease:
            self.assertIsNone(lease.session_string)
            self.assertIn('api_id', lease.session_string_error)

"""``with client.session() as s:`` against a real TeleGate: release, reporting, heartbeats, lost leases."""
import time
import unittest

from telegate_client import Lease, LeaseLost, LeaseMismatch, NoSessionAvailable

from . import fakes
from .support import wait_until
from .test_client import ServerTestCase


class Reporting(ServerTestCase):
    server_options = {'sessions': 2, 'admin_keys': True}

    def run_block(self, client, error):
        """Raise ``error`` inside a session block; returns the lease. The error must come back out."""
        with self.assertRaises(type(error)) as cm:
            with client.session() as s:
                self.assertEqual(self.server.state_of(s.session_id), 'in_use')
                raise error
        self.assertIs(cm.exception, error)
        return s

    def test_normal_exit_releases(self):
        c = self.client()
        with c.session() as s:
            self.assertIsInstance(s, Lease)
            self.assertEqual(s['session_name'], s.session_name)
            self.assertEqual(c.get_status()['in_use'], 1)
        self.assertTrue(s.ended)
        self.assertFalse(s.lease_lost)
        self.assertEqual(self.server.state_of(s.session_id), 'free')

    def test_other_errors_release_and_propagate(self):
        s = self.run_block(self.client(), ValueError('not telegram'))
        self.assertIsNone(s.reported)
        self.assertEqual(self.server.state_of(s.session_id), 'free')

    def assert_floodwait(self, s, seconds, name='FLOOD_WAIT'):
        self.assertEqual(s.reported, ('report', '{}_{}'.format(name, seconds), 'rest'))
        listed = self.server.sessions()[s.session_id]
        self.assertEqual(listed['state'], 'floodwait')
        self.assertIsNotNone(listed['floodwait_until'])
        self.assertEqual(self.server.status()['in_use'], 0)

    def test_telethon_flood_wait_is_reported(self):
        self.assert_floodwait(self.run_block(self.client(), fakes.FloodWaitError(capture=120)), 120)

    def test_pyrogram_flood_wait_is_reported(self):
        self.assert_floodwait(self.run_block(self.client(), fakes.FloodWait(value=90)), 90)

    def test_pyrogram_1_flood_wait_is_reported(self):
        self.assert_floodwait(self.run_block(self.client(), fakes.FloodWaitPyrogram1(x=80)), 80)

    def test_flood_wait_message_is_reported(self):
        self.assert_floodwait(self.run_block(self.client(), RuntimeError('420 FLOOD_PREMIUM_WAIT_70')), 70, 'FLOOD_PREMIUM_WAIT')

    def test_every_shared_vector_goes_to_report_and_the_servers_table_decides(self):
        for v in fakes.VECTORS:
            for make in (fakes.telethon_error, fakes.pyrogram_error):
                with self.subTest(error=v['error'], shape=make.__name__):
                    s = self.run_block(self.client(), make(v))
                    self.assertEqual(s.reported, ('report', fakes.capped(v['error']), v['action']))
                    expected = {'rest': 'floodwait', 'invalidate': 'invalidated', 'none': 'free'}[v['action']]
                    listed = self.server.sessions()[s.session_id]
                    self.assertEqual(listed['state'], expected)
                    if v['action'] == 'rest' and v.get('scope'):
                        self.assertIn(v['scope'], listed['rests'])
                    self.server.reset()

    def test_session_scope_is_issued_only_a_session_not_resting_on_it(self):
        first = self.run_block(self.client(), fakes.telethon_error(
            {'error': 'FLOOD_WAIT_600', 'method': 'contacts.resolveUsername'}))
        with self.client().session(scope='contacts.resolveUsername') as other:
            self.assertNotEqual(other.session_id, first.session_id)
        with self.client().session(scope=['messages.sendMessage'], tag=[]) as any_:
            self.assertIn(any_.session_id, (first.session_id, other.session_id))

    def test_dead_sessions_are_invalidated_with_the_reason(self):
        for error, reason in ((fakes.AuthKeyUnregisteredError(), 'AUTH_KEY_UNREGISTERED'),
                              (fakes.AuthKeyDuplicatedError(), 'AUTH_KEY_DUPLICATED'),
                              (fakes.SessionRevokedError(), 'SESSION_REVOKED'),
                              (fakes.UserDeactivatedBan(), 'USER_DEACTIVATED_BAN'),
                              (RuntimeError('RPCError 401: USER_DEACTIVATED'), 'USER_DEACTIVATED')):
            s = self.run_block(self.admin(), error)
            self.assertEqual(s.reported, ('report', reason, 'invalidate'))
            listed = self.server.sessions()[s.session_id]
            self.assertEqual((listed['state'], listed['reason']), ('invalidated', reason))
            self.server.reset()

    def test_a_worker_key_invalidates_the_dead_session_it_holds(self):
        # Admin keys configured: the worker's lease token lets it invalidate the session it holds.
        s = self.run_block(self.client(), fakes.AuthKeyUnregisteredError())
        self.assertEqual(s.reported, ('report', 'AUTH_KEY_UNREGISTERED', 'invalidate'))
        self.assertTrue(s.ended)
        self.assertEqual(self.server.state_of(s.session_id), 'invalidated')

    def test_one_line_report_by_name_inside_the_block(self):
        with self.client().session() as s:
            r = s.report('AUTH_KEY_UNREGISTERED')
        self.assertEqual((r['action'], r['health']), ('invalidate', 'logged_out'))
        self.assertEqual(s.reported, ('report', 'AUTH_KEY_UNREGISTERED', 'invalidate'))
        self.assertEqual(self.server.state_of(s.session_id), 'invalidated')

    def test_manual_report_inside_the_block(self):
        c = self.client()
        with c.session() as s:
            s.report_floodwait(30)
        self.assertEqual(self.server.state_of(s.session_id), 'floodwait')
        self.assertTrue(s.ended)

    def recorded_releases(self, client):
        """Record the releases ``client`` sends (a lost lease must send none)."""
        calls = []
        release = client.release_session

        def spy(*args, **kw):
            calls.append(args)
            return release(*args, **kw)
        client.release_session = spy
        return calls

    def test_heartbeat_409_loses_the_lease_raise_if_lost_and_the_block_end_raise_lease_lost(self):
        c, thief = self.client(), self.client()
        releases = self.recorded_releases(c)
        with self.assertLogs('telegate_client', 'WARNING') as logs, self.assertRaises(LeaseLost) as cm:
            with c.session(heartbeat_interval=0.2) as s:
                self.admin().release_session(s.session_id)  # an operator frees it ...
                taken = [thief.get_session()['session_id'] for _ in range(self.server.n)]  # ... someone takes it
                self.assertIn(s.session_id, taken)
                wait_until(lambda: s.lease_lost, 5, what='lease_lost after a 409 heartbeat')
                self.assertRaises(LeaseLost, s.raise_if_lost)
        self.assertIs(cm.exception, s.lost_error)
        self.assertIsInstance(cm.exception.__cause__, LeaseMismatch)
        self.assertEqual(cm.exception.session_id, s.session_id)
        self.assertIn('lease lost', logs.output[0])
        self.assertTrue(s.lease_lost and s.ended)
        self.assertEqual(releases, [], 'no release with the stale token')
        self.assertEqual(self.server.state_of(s.session_id), 'in_use')  # the thief's lease was not freed

    def test_admin_invalidate_of_a_held_session_loses_the_lease(self):
        c = self.client()
        releases = self.recorded_releases(c)
        with self.assertRaises(LeaseLost):
            with c.session(heartbeat_interval=0.2) as s:
                self.admin().invalidate_session(s.session_id, 'operator')
                while True:  # long work that checks between steps
                    s.raise_if_lost()
                    time.sleep(0.05)
        self.assertEqual(releases, [])
        self.assertEqual(self.server.state_of(s.session_id), 'invalidated')

    def test_auto_wait_in_the_context_manager(self):
        holder, held = self.drain()
        holder.report_floodwait(held[0]['session_id'], 1)
        started = time.monotonic()
        with self.client(max_wait=10).session() as s:
            self.assertEqual(s.session_id, held[0]['session_id'])
        self.assertGreaterEqual(time.monotonic() - started, 0.5)
        holder.get_session()  # all in use again
        with self.assertRaises(NoSessionAvailable):
            with self.client().session(max_wait=0.5):
                self.fail('must not enter the block')


class Heartbeats(ServerTestCase):
    # One session, 2 s leases, reaper every 200 ms.
    server_options = {'sessions': 1, 'lease_ttl': 2}

    def test_heartbeats_keep_the_lease_past_its_ttl(self):
        c, other = self.client(), self.client(auto_wait=False)
        with c.session(heartbeat_interval=0.4) as s:
            first_expiry = s.lease_expires_at
            deadline = time.monotonic() + 3.5  # the block works for longer than the 2 s lease
            while time.monotonic() < deadline:
                with self.assertRaises(NoSessionAvailable):
                    other.get_session()
                time.sleep(0.25)
            self.assertFalse(s.lease_lost)
            self.assertGreater(s.lease_expires_at, first_expiry)
        self.assertEqual(self.server.state_of(s.session_id), 'free')

    def test_default_interval_is_shortened_for_short_leases(self):
        c = self.client(heartbeat_interval=60)
        with c.session() as s:
            wait_until(lambda: s.lease_expires_at != s.data['lease_expires_at'], 5,
                       what='a heartbeat within a third of the 2 s lease')
        self.assertFalse(s.lease_lost)

    def test_expired_lease_is_lost_and_the_stale_release_frees_nothing(self):
        stale, other = self.client(), self.client(max_wait=10)
        s = stale.get_session()  # no heartbeats: the lease expires and the reaper frees it
        taken = other.get_session()
        self.assertEqual(taken['session_id'], s['session_id'])
        with self.assertRaises(LeaseMismatch):
            stale.release_session(s['session_id'])
        self.assertEqual(self.server.state_of(s['session_id']), 'in_use')


if __name__ == '__main__':
    unittest.main()

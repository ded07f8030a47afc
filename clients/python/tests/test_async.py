"""The asyncio client against a real TeleGate."""
import asyncio
import time
import unittest

from telegate_client import AsyncTelegramSessionManagerClient, AuthError, LeaseLost, NoSessionAvailable

from . import fakes
from .support import wait_until
from .test_client import ServerTestCase


class AsyncClient(ServerTestCase):
    server_options = {'sessions': 2, 'admin_keys': True}

    def aclient(self, **kw):
        kw.setdefault('notice', None)
        key = kw.pop('api_key', self.server.api_key)
        return AsyncTelegramSessionManagerClient(self.server.url, key, **kw)

    def test_get_release_status(self):
        async def main():
            c = self.aclient()
            s = await c.get_session()
            self.assertEqual((await c.get_status())['in_use'], 1)
            self.assertTrue(await c.release_session(s['session_id']))
            return s
        s = asyncio.run(main())
        self.assertEqual(self.server.state_of(s['session_id']), 'free')

    def test_release_and_next_and_floodwait_and_next(self):
        async def main():
            c = self.aclient(auto_wait=False)
            a = await c.get_session()
            b = await c.release_and_next(a['session_id'])
            d = await c.floodwait_and_next(b['session_id'], 60)
            return a, b, d
        a, b, d = asyncio.run(main())
        self.assertNotEqual(a['session_id'], b['session_id'])
        self.assertEqual(d['session_id'], a['session_id'])
        self.assertEqual(self.server.state_of(b['session_id']), 'floodwait')
        self.assertEqual(self.server.state_of(d['session_id']), 'in_use')

    def test_auto_wait_is_served_by_a_release(self):
        async def main():
            holder = self.aclient(auto_wait=False)
            held = [await holder.get_session() for _ in range(self.server.n)]
            waiting = asyncio.Event()
            loop = asyncio.get_running_loop()
            c = self.aclient(max_wait=20, notice=lambda line: loop.call_soon_threadsafe(waiting.set))
            task = asyncio.ensure_future(c.get_session())
            await asyncio.wait_for(waiting.wait(), 10)
            self.assertFalse(task.done())
            released = time.monotonic()
            await holder.release_session(held[1]['session_id'])
            s = await asyncio.wait_for(task, 10)
            self.assertEqual(s['session_id'], held[1]['session_id'])
            self.assertLess(time.monotonic() - released, 3)
        asyncio.run(main())

    def test_cancelled_wait_gives_back_a_session_it_gets_later(self):
        async def main():
            holder = self.aclient(auto_wait=False)
            held = [await holder.get_session() for _ in range(self.server.n)]
            waiting = asyncio.Event()
            loop = asyncio.get_running_loop()
            c = self.aclient(notice=lambda line: loop.call_soon_threadsafe(waiting.set))
            task = asyncio.ensure_future(c.get_session())
            await asyncio.wait_for(waiting.wait(), 10)
            # By now the task has handed its long-poll to an executor thread: that request
            # will be made whatever happens to the task.
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
            # The long-poll still in flight takes the released session; the client gives it back.
            await holder.release_session(held[0]['session_id'])
            await loop.run_in_executor(None, lambda: wait_until(
                lambda: self.server.status()['free'] == 1, 10, what='the orphaned lease given back'))
        asyncio.run(main())

    def test_max_wait_and_no_auto_wait(self):
        async def main():
            holder = self.aclient(auto_wait=False)
            for _ in range(self.server.n):
                await holder.get_session()
            with self.assertRaises(NoSessionAvailable):
                await holder.get_session()
            started = time.monotonic()
            with self.assertRaises(NoSessionAvailable):
                await self.aclient(max_wait=1).get_session()
            self.assertLess(time.monotonic() - started, 3)
        asyncio.run(main())

    def test_context_manager_reports_flood_wait_and_releases_otherwise(self):
        async def main():
            c = self.aclient()
            with self.assertRaises(fakes.FloodWaitError):
                async with c.session() as s:
                    await asyncio.sleep(0)
                    raise fakes.FloodWaitError(capture=60)
            async with c.session() as t:
                self.assertNotEqual(t.session_id, s.session_id)
                self.assertEqual((await t.heartbeat())['status'], 'extended')
            return s, t
        s, t = asyncio.run(main())
        self.assertEqual(s.reported, ('report', 'FLOOD_WAIT_60', 'rest'))
        self.assertEqual(self.server.state_of(s.session_id), 'floodwait')
        self.assertEqual(self.server.state_of(t.session_id), 'free')

    def test_a_lost_lease_cancels_the_block_and_leaves_it_as_lease_lost(self):
        async def main():
            c = self.aclient()
            releases = []
            release = c.sync.release_session
            c.sync.release_session = lambda *a, **kw: releases.append(a) or release(*a, **kw)
            admin = self.aclient(api_key=self.server.admin_key)
            with self.assertRaises(LeaseLost) as cm:
                async with c.session(heartbeat_interval=0.2) as s:
                    await admin.invalidate_session(s.session_id, 'operator')
                    await asyncio.sleep(60)  # the work: cancelled by the lost lease
            self.assertIsInstance(cm.exception.__context__, asyncio.CancelledError)
            if hasattr(asyncio.Task, 'cancelling'):  # Python >= 3.11
                self.assertEqual(asyncio.current_task().cancelling(), 0, 'the cancellation was handled')
            await asyncio.sleep(0)  # and no stray one is left for the task
            return s, releases
        started = time.monotonic()
        s, releases = asyncio.run(main())
        self.assertLess(time.monotonic() - started, 30, 'cancelled, not slept out')
        self.assertTrue(s.lease_lost)
        self.assertEqual(releases, [], 'no release with the stale token')
        self.assertEqual(self.server.state_of(s.session_id), 'invalidated')

    def test_auth_errors(self):
        async def main():
            with self.assertRaises(AuthError) as cm:
                await self.aclient(api_key='nope').get_status()
            return cm.exception.status
        self.assertEqual(asyncio.run(main()), 403)


if __name__ == '__main__':
    unittest.main()

"""Finding the Telegram RPC error (name + method) in library-shaped errors, with the shared vectors (no server needed)."""
import unittest

from telegate_client import floodwait_seconds, rpc_error_of

from . import fakes

try:  # the real library, when installed (CI installs python3-telethon)
    from telethon import errors as telethon_errors  # type: ignore[import-not-found]
    from telethon.tl.functions.messages import SendMessageRequest  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    telethon_errors = None


class SharedVectors(unittest.TestCase):
    def test_every_vector_as_telethon_1_pyrogram_and_telethon_2(self):
        for v in fakes.VECTORS:
            name = fakes.capped(v['error'])
            method = v['method']
            with self.subTest(error=v['error'], method=method):
                found = rpc_error_of(fakes.telethon_error(v))
                self.assertEqual((found[0], (found[1] or '').lower() or None) if found else None,
                                 (name, method.lower() if method else None))
                self.assertEqual(rpc_error_of(fakes.pyrogram_error(v)), (name, method))
                self.assertEqual(rpc_error_of(fakes.telethon2_error(v))[0], name)


class Shapes(unittest.TestCase):
    def test_names_the_libraries_drop_are_rebuilt(self):
        self.assertEqual(rpc_error_of(fakes.FloodWaitError(capture=42))[0], 'FLOOD_WAIT_42')
        self.assertEqual(rpc_error_of(fakes.FloodPremiumWaitError(capture=7))[0], 'FLOOD_PREMIUM_WAIT_7')
        self.assertEqual(rpc_error_of(fakes.SlowModeWaitError(capture=10))[0], 'SLOWMODE_WAIT_10')
        self.assertEqual(rpc_error_of(fakes.FloodWait(value=30))[0], 'FLOOD_WAIT_30')
        self.assertEqual(rpc_error_of(fakes.FloodWaitPyrogram1(x=12))[0], 'FLOOD_WAIT_12')
        self.assertEqual(rpc_error_of(fakes.RpcError(420, 'FLOOD_WAIT', 60))[0], 'FLOOD_WAIT_60')
        self.assertEqual(rpc_error_of(fakes.AuthKeyUnregisteredError())[0], 'AUTH_KEY_UNREGISTERED')
        self.assertEqual(floodwait_seconds(fakes.FloodWaitError(capture=99999999999)), 31536000)

    def test_messages_and_causes(self):
        self.assertEqual(rpc_error_of(RuntimeError('RPCError 420: FLOOD_WAIT_17 (caused by messages.SendMessage)')),
                         ('FLOOD_WAIT_17', 'messages.SendMessage'))
        self.assertEqual(rpc_error_of(RuntimeError('[401 USER_DEACTIVATED]'))[0], 'USER_DEACTIVATED')
        try:
            try:
                raise fakes.FloodWaitError(capture=9)
            except Exception as inner:
                raise RuntimeError('job failed') from inner
        except RuntimeError as outer:
            self.assertEqual(rpc_error_of(outer)[0], 'FLOOD_WAIT_9')

    def test_guesses_nothing_without_a_telegram_name(self):
        for e in (ValueError('boom'), RuntimeError('A wait of 10 seconds is required'),
                  RuntimeError('MY_AUTH_KEY_UNREGISTERED_THING happened')):
            self.assertIsNone(rpc_error_of(e), repr(e))

    @unittest.skipIf(telethon_errors is None, 'Telethon is not installed in this interpreter')
    def test_real_telethon_errors(self):
        class Raw:
            def __init__(self, code, message):
                self.error_code, self.error_message = code, message
        req = SendMessageRequest(peer='me', message='x')
        for code, raw, name in ((420, 'FLOOD_WAIT_30', 'FLOOD_WAIT_30'), (400, 'PEER_FLOOD', 'PEER_FLOOD'),
                                (401, 'AUTH_KEY_UNREGISTERED', 'AUTH_KEY_UNREGISTERED'),
                                (400, 'SOMETHING_NEW', 'SOMETHING_NEW'), (420, 'SLOWMODE_WAIT_10', 'SLOWMODE_WAIT_10')):
            e = telethon_errors.rpc_message_to_error(Raw(code, raw), req)
            self.assertEqual(rpc_error_of(e), (name, 'messages.SendMessage'), raw)

"""Duck-typed recognition of Telegram errors (no server needed)."""
import unittest

from telegate_client import classify, floodwait_seconds, invalidation_reason

from . import fakes


class FloodWaitRecognition(unittest.TestCase):
    def test_telethon_flood_wait_error_seconds(self):
        self.assertEqual(classify(fakes.FloodWaitError(capture=42)), ('floodwait', 42))

    def test_telethon_flood_premium_wait(self):
        self.assertEqual(floodwait_seconds(fakes.FloodPremiumWaitError(capture=7)), 7)

    def test_pyrogram_2_flood_wait_value(self):
        self.assertEqual(classify(fakes.FloodWait(value=30)), ('floodwait', 30))

    def test_pyrogram_1_flood_wait_x(self):
        self.assertEqual(floodwait_seconds(fakes.FloodWaitPyrogram1(x=12)), 12)

    def test_telethon_2_rpc_error_name_value(self):
        self.assertEqual(floodwait_seconds(fakes.RpcError(420, 'FLOOD_WAIT', 60)), 60)
        self.assertEqual(floodwait_seconds(fakes.RpcError(420, 'FLOOD_PREMIUM_WAIT', 5)), 5)

    def test_any_message_with_flood_wait_n(self):
        self.assertEqual(floodwait_seconds(RuntimeError('RPCError 420: FLOOD_WAIT_17 (caused by X)')), 17)
        self.assertEqual(floodwait_seconds(RuntimeError('FLOOD_PREMIUM_WAIT_3')), 3)

    def test_other_waits_are_not_flood_waits(self):
        self.assertIsNone(classify(fakes.SlowModeWaitError(capture=10)))
        self.assertIsNone(floodwait_seconds(RuntimeError('SLOWMODE_WAIT_10')))
        self.assertIsNone(floodwait_seconds(RuntimeError('FLOOD_TEST_PHONE_WAIT_10')))
        self.assertIsNone(floodwait_seconds(RuntimeError('A wait of 10 seconds is required')))

    def test_wrapped_error_is_found_through_cause(self):
        try:
            try:
                raise fakes.FloodWaitError(capture=9)
            except Exception as inner:
                raise RuntimeError('job failed') from inner
        except RuntimeError as outer:
            self.assertEqual(floodwait_seconds(outer), 9)

    def test_huge_wait_is_capped_to_the_servers_limit(self):
        self.assertEqual(floodwait_seconds(RuntimeError('FLOOD_WAIT_99999999999')), 31536000)


class InvalidationRecognition(unittest.TestCase):
    def test_telethon_class_names(self):
        self.assertEqual(classify(fakes.AuthKeyUnregisteredError()), ('invalidate', 'AUTH_KEY_UNREGISTERED'))
        self.assertEqual(invalidation_reason(fakes.AuthKeyDuplicatedError()), 'AUTH_KEY_DUPLICATED')
        self.assertEqual(invalidation_reason(fakes.SessionRevokedError()), 'SESSION_REVOKED')
        self.assertEqual(invalidation_reason(fakes.UserDeactivatedBanError()), 'USER_DEACTIVATED_BAN')

    def test_pyrogram_id(self):
        self.assertEqual(invalidation_reason(fakes.UserDeactivatedBan()), 'USER_DEACTIVATED_BAN')

    def test_messages(self):
        self.assertEqual(invalidation_reason(RuntimeError('401: AUTH_KEY_UNREGISTERED (caused by X)')),
                         'AUTH_KEY_UNREGISTERED')
        self.assertEqual(invalidation_reason(RuntimeError('[401 USER_DEACTIVATED]')), 'USER_DEACTIVATED')

    def test_unrelated_errors(self):
        self.assertIsNone(classify(ValueError('boom')))
        self.assertIsNone(classify(fakes.UnauthorizedError('UNAUTHORIZED')))
        self.assertIsNone(invalidation_reason(RuntimeError('MY_AUTH_KEY_UNREGISTERED_THING')))


if __name__ == '__main__':
    unittest.main()

"""
Retry rules of the transport. A healthy TeleGate cannot be made to answer
5xx or 429 on demand, so these few tests use a scripted stub HTTP server
(standard library); everything else is tested against a real TeleGate.
"""
import json
import threading
import unittest
from http.server import BaseHTTPRequestHandler, HTTPServer

from telegate_client import NoSessionAvailable, TeleGateHTTPError, TelegramSessionManagerClient


class Stub:
    """Answers each request with the next scripted (status, body, headers); records the paths."""

    def __init__(self, script):
        self.script = list(script)
        self.seen = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get('Content-Length') or 0)
                if length:
                    self.rfile.read(length)
                stub.seen.append((self.command, self.path, self.headers.get('X-API-Key')))
                status, body, headers = stub.script.pop(0) if stub.script else (500, {'detail': 'script ran out'}, {})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.httpd = HTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:{}'.format(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


STATUS = {'total': 1, 'free': 1, 'in_use': 0, 'in_floodwait': 0, 'next_available': None}
SESSION = {'session_id': 1, 'session_name': 's1', 'lease_token': 't'}


class Retries(unittest.TestCase):
    def client(self, url, **kw):
        return TelegramSessionManagerClient(url, 'k', notice=None, retries=2, backoff=0.01, **kw)

    def test_idempotent_calls_retry_5xx(self):
        with Stub([(502, {'detail': 'Bad Gateway'}, {}), (500, {'detail': 'Internal Server Error'}, {}),
                   (200, STATUS, {})]) as stub:
            self.assertEqual(self.client(stub.url).get_status(), STATUS)
        self.assertEqual([p for _, p, _ in stub.seen], ['/status'] * 3)
        self.assertEqual({k for _, _, k in stub.seen}, {'k'})

    def test_retries_are_bounded(self):
        with Stub([(503, {'detail': {'error': 'store_unavailable'}}, {'Retry-After': '0'})] * 5) as stub:
            with self.assertRaises(TeleGateHTTPError) as cm:
                self.client(stub.url).release_session(1)
        self.assertEqual(cm.exception.status, 503)
        self.assertEqual(len(stub.seen), 3)

    def test_get_session_is_not_retried_after_an_ambiguous_5xx(self):
        with Stub([(502, {'detail': 'Bad Gateway'}, {}), (200, SESSION, {})]) as stub:
            with self.assertRaises(TeleGateHTTPError):
                self.client(stub.url).get_session()
        self.assertEqual(len(stub.seen), 1)

    def test_get_session_is_retried_when_nothing_changed(self):
        with Stub([(429, {'detail': 'Too Many Requests'}, {'Retry-After': '0'}),
                   (503, {'detail': {'error': 'store_unavailable'}}, {'Retry-After': '0'}),
                   (200, SESSION, {})]) as stub:
            c = self.client(stub.url)
            self.assertEqual(c.get_session()['session_id'], 1)
            self.assertEqual(c.lease_token(1), 't')
        self.assertEqual(len(stub.seen), 3)

    def test_get_session_waits_out_a_recovery_grace(self):
        recovering = (503, {'detail': {'error': 'store_recovering', 'in_floodwait': 0, 'next_release_in': 0}},
                      {'Retry-After': '0'})
        with Stub([recovering, recovering, (200, SESSION, {})]) as stub:
            self.assertEqual(self.client(stub.url, max_wait=10).get_session()['session_id'], 1)
        self.assertEqual(len(stub.seen), 3)
        with Stub([(503, {'detail': {'error': 'store_recovering', 'in_floodwait': 0, 'next_release_in': 42}},
                    {'Retry-After': '42'})]) as stub:
            with self.assertRaises(NoSessionAvailable) as caught:
                self.client(stub.url, auto_wait=False).get_session()
        self.assertTrue(caught.exception.recovering)
        self.assertEqual(caught.exception.next_release_in, 42)
        self.assertIn('recovering', str(caught.exception))


if __name__ == '__main__':
    unittest.main()

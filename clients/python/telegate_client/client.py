"""
The blocking client: TelegramSessionManagerClient (a drop-in for the original
service's client) plus the lease context manager.
"""
import calendar
import json
import logging
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

from . import __version__
from ._waiting import WaitPlan
from .errors import (LeaseLost, LeaseMismatch, NoSessionAvailable, SessionNotFound, TeleGateConnectionError,
                     TeleGateError, TeleGateHTTPError, http_error)
from .telegram_errors import rpc_error_of

log = logging.getLogger('telegate_client')

_UNSET: Any = object()
#: 5xx answers worth retrying on idempotent calls (501 and 505 will not get better).
_RETRY_STATUSES = {500, 502, 503, 504}
_MAX_RETRY_AFTER = 60.0


def parse_utc(text: Optional[str]) -> Optional[float]:
    """'YYYY-MM-DD HH:MM:SS' (UTC, as the server writes times) -> epoch seconds; None if absent or malformed."""
    if not text:
        return None
    try:
        return float(calendar.timegm(time.strptime(text, '%Y-%m-%d %H:%M:%S')))
    except (TypeError, ValueError):
        return None


class Lease:
    """
    A leased session, as the context manager yields it. Dict-style access
    (``s['session_id']``) reads the raw /session answer.

    ``lease_lost`` becomes True when the server says the lease is no longer
    ours (a heartbeat answered 409 or 404, or a release 409): someone else may
    be using the session now. Long blocking work should call
    ``raise_if_lost()`` between steps (it raises LeaseLost); ``lost_error`` is
    that LeaseLost, or None. ``ended`` is True once the lease was released,
    reported as a flood wait, or invalidated; ``reported`` tells which
    (``('floodwait', seconds)`` / ``('invalidated', reason)``).
    """

    def __init__(self, client: 'TelegramSessionManagerClient', data: Dict[str, Any]) -> None:
        self._client = client
        self.data = data
        self.session_id: int = data['session_id']
        self.session_name: str = data['session_name']
        self.lease_token: Optional[str] = data.get('lease_token')
        self.lease_expires_at: Optional[str] = data.get('lease_expires_at')
        self.proxy: Optional[Dict[str, Any]] = data.get('proxy')
        self.session_string: Optional[str] = data.get('session_string')
        # With ``format``, instead of session_string: why it was not given.
        self.session_string_error: Optional[str] = data.get('session_string_error')
        self.lease_lost = False
        self.lost_error: Optional[LeaseLost] = None
        self.ended = False
        self.reported: Optional[Tuple[str, Any]] = None
        #: Called (from the heartbeat thread) when the lease is lost; the asyncio client cancels the block with it.
        self.on_lost: Optional[Callable[[], None]] = None

    def _lose(self, cause: BaseException) -> None:
        """The server said the lease is not ours: never use (or release with) the stale token again."""
        if self.lease_lost:
            return
        err = LeaseLost(self.session_id, str(cause))
        err.__cause__ = cause
        self.lost_error = err
        self.ended = True
        self.lease_lost = True
        self._client._forget(self.session_id)
        if self.on_lost is not None:
            self.on_lost()

    def raise_if_lost(self) -> None:
        """Raise LeaseLost if the server said the lease is no longer ours."""
        if self.lost_error is not None:
            raise self.lost_error

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def __repr__(self) -> str:
        return '<Lease session_id={} session_name={!r}{}>'.format(
            self.session_id, self.session_name, ' lost' if self.lease_lost else ' ended' if self.ended else '')

    def heartbeat(self) -> Dict[str, Any]:
        """Extend the lease now (the context manager also does it in the background)."""
        r = self._client.heartbeat(self.session_id, lease_token=self.lease_token)
        self.lease_expires_at = r.get('lease_expires_at', self.lease_expires_at)
        return r

    def release(self) -> bool:
        """Give the session back now. Idempotent."""
        if self.ended:
            return True
        try:
            ok = self._client.release_session(self.session_id, lease_token=self.lease_token)
        except LeaseMismatch as err:
            self._lose(err)
            raise
        self.ended = True
        return ok

    def report_floodwait(self, seconds: int) -> Dict[str, Any]:
        """Telegram said FLOOD_WAIT: the session rests for ``seconds`` and the lease ends."""
        r = self._client.report_floodwait(self.session_id, seconds, lease_token=self.lease_token)
        self.ended = True
        self.reported = ('floodwait', seconds)
        return r

    def invalidate(self, reason: Optional[str] = None) -> Dict[str, Any]:
        """The session is dead (banned, key revoked): out of circulation; the lease ends."""
        r = self._client.invalidate_session(self.session_id, reason, lease_token=self.lease_token)
        self.ended = True
        self.reported = ('invalidated', reason)
        return r

    def report_error(self, exc: BaseException) -> bool:
        """
        Send ``exc`` to ``POST /report`` when it is a Telegram RPC error: its
        name and the method that raised it; the server's table decides (rest
        the method, invalidate, or nothing). What the context manager does
        with an error escaping its block. Returns True when reported; sets
        ``reported`` to ('report', name, action). Never raises: a failed report
        is logged. An error the server answers ``none`` for leaves the session
        ours (the block's end releases it).
        """
        found = rpc_error_of(exc)
        if found is None or self.ended:
            return False
        name, method = found
        try:
            self.report(name, method)
        except LeaseMismatch:
            log.warning('session %s: lease lost before %s could be reported', self.session_id, name)
            return False
        except Exception as err:
            log.warning('session %s: could not report %s: %s', self.session_id, name, err)
            return False
        return True

    def report(self, error: str, method: Optional[str] = None) -> Dict[str, Any]:
        """
        Report a Telegram RPC error by name (and the method that raised it):
        ``s.report('AUTH_KEY_UNREGISTERED')``. The server's table decides; unless
        it answers ``none`` the lease ends (the session rests or is invalidated).
        """
        try:
            r = self._client.report(self.session_id, error, method, lease_token=self.lease_token)
        except LeaseMismatch as err:
            self._lose(err)
            raise
        action = r.get('action') if isinstance(r, dict) else None
        if action != 'none':
            self.ended = True
        self.reported = ('report', error, action)
        return r


class _Heartbeat:
    """Daemon thread extending a lease every ``interval`` seconds until stopped."""

    def __init__(self, lease: Lease, interval: float) -> None:
        self.lease = lease
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name='telegate-heartbeat-{}'.format(lease.session_id),
                                        daemon=True)

    def start(self) -> None:
        if self.lease.lease_token:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.lease.heartbeat()
            except (LeaseMismatch, SessionNotFound) as err:
                if not self._stop.is_set():
                    log.warning('session %s: lease lost (%s)', self.lease.session_id, err)
                    self.lease._lose(err)
                return
            except Exception as err:
                if not self._stop.is_set():
                    log.warning('session %s: heartbeat failed: %s', self.lease.session_id, err)


def heartbeat_interval_for(lease: Lease, interval: float) -> float:
    """``interval``, shortened to a third of the lease's remaining time when that is shorter."""
    expires = parse_utc(lease.lease_expires_at)
    if expires is not None:
        ttl = expires - time.time()
        if 0 < ttl < 3 * interval:
            return max(1.0, ttl / 3)
    return interval


class TelegramSessionManagerClient:
    """
    Client of TeleGate's HTTP API.

    Compatible with the original ``TelegramSessionManagerClient(base_url,
    api_key, auto_wait=True)``: ``get_session()``, ``release_session(id)``,
    ``get_status()``, ``NoSessionAvailable``. The API key goes in the
    ``X-API-Key`` header of every request.

    Keyword-only options:
      timeout             seconds per HTTP request (long-polls get their wait on top)
      max_wait            bound on auto-wait in get_session(), seconds; None: no bound
      retries             extra attempts after a connection error, a 429 or a 5xx, on
                          idempotent calls (GET /session is retried only when the request
                          provably did not reach the server or changed nothing)
      backoff, backoff_cap  exponential backoff (seconds) for retries and auto-wait polling
      long_poll           use the server's GET /session?wait= (default True)
      format              session_string in this library's format: 'telethon', 'pyrogram',
                          'gramjs' or 'mtcute', whatever wrote the file (None: the file's own);
                          when it cannot be made, session_string_error says why
      heartbeat_interval  seconds between heartbeats in session() (shortened for short leases)
      notice              callable(str) told when get_session() starts waiting; the
                          original printed a line: default ``print``; None silences it
    """

    def __init__(self, base_url: str, api_key: str, auto_wait: bool = True, *, timeout: float = 30.0,
                 max_wait: Optional[float] = None, retries: int = 3, backoff: float = 0.5,
                 backoff_cap: float = 30.0, long_poll: bool = True, heartbeat_interval: float = 60.0,
                 notice: Optional[Callable[[str], Any]] = print, format: Optional[str] = None) -> None:
        if not base_url:
            raise ValueError('base_url is required')
        self.base_url = base_url.rstrip('/')
        self.api_key = api_key
        self.auto_wait = auto_wait
        self.timeout = timeout
        self.max_wait = max_wait
        self.retries = max(0, int(retries))
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self.long_poll = long_poll
        self.heartbeat_interval = heartbeat_interval
        self.notice = notice
        self.format = format
        self._tokens: Dict[int, str] = {}
        self._lock = threading.Lock()
        self._user_agent = 'telegate-client/{} (python)'.format(__version__)

    # --- lease tokens ---------------------------------------------------------------

    def _remember(self, session_id: int, token: Optional[str]) -> None:
        if token:
            with self._lock:
                self._tokens[session_id] = token

    def _forget(self, session_id: int) -> None:
        with self._lock:
            self._tokens.pop(session_id, None)

    def lease_token(self, session_id: int) -> Optional[str]:
        """The lease token this client holds for ``session_id`` (from get_session()), if any."""
        with self._lock:
            return self._tokens.get(session_id)

    # --- HTTP -----------------------------------------------------------------------

    def _retry_delay(self, attempt: int, retry_after: Optional[str] = None) -> float:
        if retry_after and retry_after.strip().isdigit():
            return min(float(retry_after), _MAX_RETRY_AFTER)
        step = min(self.backoff_cap, self.backoff * (2 ** attempt))
        return step * (0.5 + 0.5 * random.random())

    def _request(self, method: str, path: str, params: Optional[Dict[str, Any]] = None, *,
                 idempotent: bool = True, timeout: Optional[float] = None) -> Any:
        """One API call with retries; returns the decoded JSON body of a 2xx answer."""
        url = self.base_url + path
        data = None
        headers = {'X-API-Key': self.api_key, 'Accept': 'application/json', 'User-Agent': self._user_agent}
        params = {k: v for k, v in (params or {}).items() if v is not None}
        if method == 'GET':
            if params:
                url += '?' + urllib.parse.urlencode(params)
        else:
            data = json.dumps(params).encode('utf-8')
            headers['Content-Type'] = 'application/json'
        attempt = 0
        while True:
            req = urllib.request.Request(url, data=data, headers=headers, method=method)
            retry_after = None
            try:
                with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                    return _decode(resp.read())
            except urllib.error.HTTPError as err:
                body = _decode(err.read())
                detail = body.get('detail', body) if isinstance(body, dict) else body
                status = err.code
                retry_after = err.headers.get('Retry-After') if err.headers else None
                err.close()
                no_state_change = status == 429 or (status == 503 and isinstance(detail, dict)
                                                    and detail.get('error') == 'store_unavailable')
                if status == 503 and isinstance(detail, dict) and detail.get('error') == 'no_free_session':
                    raise NoSessionAvailable(detail.get('in_floodwait') or 0, detail.get('next_release_in'),
                                             detail.get('in_use')) from None
                # The recovery grace after a store data loss ends by itself: auto-wait waits it out.
                if status == 503 and isinstance(detail, dict) and detail.get('error') == 'store_recovering':
                    raise NoSessionAvailable(0, detail.get('next_release_in'), None, recovering=True) from None
                retryable = no_state_change or (idempotent and status in _RETRY_STATUSES)
                if not retryable or attempt >= self.retries:
                    raise http_error(status, detail, method, path) from None
                failure: BaseException = http_error(status, detail, method, path)
            except urllib.error.URLError as err:
                # Raised while connecting or sending: the server did not get the request.
                if attempt >= self.retries:
                    raise TeleGateConnectionError('{} {}: cannot reach {}: {}'.format(
                        method, path, self.base_url, err.reason)) from err
                failure = err
            except (OSError, socket.timeout) as err:
                # While waiting for the answer (reset, timeout, closed): the server may have acted.
                if not idempotent or attempt >= self.retries:
                    raise TeleGateConnectionError('{} {}: no answer from {}: {!r}'.format(
                        method, path, self.base_url, err)) from err
                failure = err
            delay = self._retry_delay(attempt, retry_after)
            attempt += 1
            log.debug('%s %s failed (%s); retry %d in %.1fs', method, path, failure, attempt, delay)
            time.sleep(delay)

    # --- the original API -----------------------------------------------------------

    def _acquire_once(self, wait: int, format: Optional[str] = None, scope: Any = None, tag: Any = None,
                      give_back: Optional[Tuple[str, Dict[str, Any]]] = None) -> Dict[str, Any]:
        """GET /session, or with ``give_back`` (path, params) a POST with next=true: both answer a leased session."""
        params = dict(give_back[1]) if give_back else {}
        params.update({'wait': wait if wait > 0 else None, 'format': format or self.format, 'tag': _listing(tag)})
        if not (give_back and give_back[0] == '/floodwait'):  # there, scope is the rest's own
            params['scope'] = _listing(scope)
        method, path = ('POST', give_back[0]) if give_back else ('GET', '/session')
        data = self._request(method, path, params, idempotent=False, timeout=self.timeout + wait)
        if not isinstance(data, dict) or 'session_id' not in data:
            raise TeleGateError('{} {}: unexpected answer {!r}'.format(method, path, data))
        self._remember(data['session_id'], data.get('lease_token'))
        return data

    def release_and_next(self, session_id: int, lease_token: Optional[str] = None, *, max_wait: Any = _UNSET,
                         auto_wait: Optional[bool] = None, format: Optional[str] = None) -> Dict[str, Any]:
        """
        Give ``session_id`` back and lease the next session in ONE request
        (POST /release with next=true: one atomic step on the server), for
        workers that loop. When nothing is free the release has happened and,
        with auto-wait, this waits for the next one as get_session() does.
        LeaseMismatch: the session was not ours any more; nothing changed.
        """
        params = {'session_id': session_id, 'lease_token': lease_token or self.lease_token(session_id), 'next': 'true'}
        return self._give_back_and_next(session_id, ('/release', params), max_wait, auto_wait, format)

    def floodwait_and_next(self, session_id: int, seconds: int, lease_token: Optional[str] = None, *,
                           max_wait: Any = _UNSET, auto_wait: Optional[bool] = None,
                           format: Optional[str] = None) -> Dict[str, Any]:
        """report_floodwait() and the next session in one request (POST /floodwait with next=true)."""
        params = {'session_id': session_id, 'wait_seconds': int(seconds),
                  'lease_token': lease_token or self.lease_token(session_id), 'next': 'true'}
        return self._give_back_and_next(session_id, ('/floodwait', params), max_wait, auto_wait, format)

    def _give_back_and_next(self, session_id: int, give_back: Tuple[str, Dict[str, Any]], max_wait: Any,
                            auto_wait: Optional[bool], format: Optional[str]) -> Dict[str, Any]:
        try:
            s = self._acquire_once(0, format, give_back=give_back)
        except LeaseMismatch:
            self._forget(session_id)
            raise
        except NoSessionAvailable:
            self._forget(session_id)  # given back; nothing was free at that instant
            if not (self.auto_wait if auto_wait is None else auto_wait):
                raise
            return self.get_session(max_wait=max_wait, auto_wait=True, format=format)
        if s['session_id'] != session_id:
            self._forget(session_id)
        return s

    def _plan(self, max_wait: Any) -> WaitPlan:
        return WaitPlan(self.max_wait if max_wait is _UNSET else max_wait, self.long_poll,
                        max(self.backoff, 0.05) * 2, self.backoff_cap)

    def _tell_waiting(self, exc: NoSessionAvailable, plan: WaitPlan) -> None:
        if self.notice is None:
            return
        if exc.next_release_in is not None:
            when = 'next release in {} s'.format(exc.next_release_in)
        else:
            when = '{} in use'.format(exc.in_use)
        rem = plan.remaining()
        bound = '' if rem is None else ' (at most {:.0f} s more)'.format(max(0.0, rem))
        try:
            self.notice('TeleGate: no free session ({} in flood wait, {}); waiting{}'.format(
                exc.waiting_count, when, bound))
        except Exception:  # a broken notice callback must not break acquiring
            pass

    def get_session(self, *, max_wait: Any = _UNSET, auto_wait: Optional[bool] = None,
                    format: Optional[str] = None, scope: Any = None, tag: Any = None) -> Dict[str, Any]:
        """
        Lease a session: a dict with ``session_id``, ``session_name`` (and from
        TeleGate ``lease_token``, ``lease_expires_at``, ``proxy``, ...).
        ``format`` overrides the client's for this call. ``scope`` (a method
        name or a list): only a session resting on none of those methods;
        ``tag`` (a name or a list): only a session carrying every tag.

        With auto-wait (the constructor's, or ``auto_wait=``), waits for one as
        described in _waiting.py, at most ``max_wait`` seconds. Raises
        NoSessionAvailable when it will not or can no longer wait.
        """
        auto = self.auto_wait if auto_wait is None else auto_wait
        plan = self._plan(max_wait)
        told = False
        while True:
            wait = plan.poll_seconds() if auto else 0
            started = time.monotonic()
            try:
                return self._acquire_once(wait, format, scope, tag)
            except NoSessionAvailable as exc:
                if not auto:
                    raise
                delay = plan.after_503(exc, wait, time.monotonic() - started)
                if not told or delay >= 1:
                    self._tell_waiting(exc, plan)
                    told = True
                if delay > 0:
                    time.sleep(delay)

    def release_session(self, session_id: int, lease_token: Optional[str] = None) -> bool:
        """
        Give a session back. True, also for unknown or already free ids. Sends
        the lease token this client got for it (or ``lease_token``): raises
        LeaseMismatch when the session was since leased to someone else.
        """
        token = lease_token or self.lease_token(session_id)
        try:
            self._request('POST', '/release', {'session_id': session_id, 'lease_token': token})
        except LeaseMismatch:
            self._forget(session_id)
            raise
        self._forget(session_id)
        return True

    def get_status(self) -> Dict[str, Any]:
        """The /status answer: total, free, in_use, in_floodwait, next_available, ..."""
        return self._request('GET', '/status')  # type: ignore[no-any-return]

    # --- additions ------------------------------------------------------------------

    def report_floodwait(self, session_id: int, seconds: int, lease_token: Optional[str] = None) -> Dict[str, Any]:
        """Telegram said FLOOD_WAIT_<seconds>: the session leaves use and rests that long."""
        token = lease_token or self.lease_token(session_id)
        try:
            r = self._request('POST', '/floodwait', {'session_id': session_id, 'wait_seconds': int(seconds),
                                                     'lease_token': token})
        except LeaseMismatch:
            self._forget(session_id)
            raise
        self._forget(session_id)
        return r  # type: ignore[no-any-return]

    def report(self, session_id: int, error: str, method: Optional[str] = None,
               lease_token: Optional[str] = None) -> Dict[str, Any]:
        """
        Report a Telegram RPC error by name (FLOOD_WAIT_600, PEER_FLOOD,
        AUTH_KEY_UNREGISTERED, ...) and the method that raised it; the server's
        table decides. Returns the answer: ``action`` is 'rest', 'invalidate' or 'none'.
        """
        token = lease_token or self.lease_token(session_id)
        try:
            r = self._request('POST', '/report', {'session_id': session_id, 'error': error, 'method': method,
                                                   'lease_token': token})
        except LeaseMismatch:
            self._forget(session_id)
            raise
        if isinstance(r, dict) and r.get('action') != 'none':
            self._forget(session_id)
        return r  # type: ignore[no-any-return]

    def invalidate_session(self, session_id: int, reason: Optional[str] = None,
                           lease_token: Optional[str] = None) -> Dict[str, Any]:
        """
        Take a session out of circulation (banned, key revoked). Sends the lease
        token this client got for it (or ``lease_token``): with it a worker key
        may invalidate the session it holds when the server has admin keys;
        without one, an admin key is needed then.
        """
        token = lease_token or self.lease_token(session_id)
        r = self._request('POST', '/invalidate', {'session_id': session_id,
                                                  'reason': None if reason is None else str(reason)[:500],
                                                  'lease_token': token})
        self._forget(session_id)
        return r  # type: ignore[no-any-return]

    def restore_session(self, session_id: int) -> Dict[str, Any]:
        """End an invalidation or flood wait now (operators). May need an admin key."""
        return self._request('POST', '/restore', {'session_id': session_id})  # type: ignore[no-any-return]

    def heartbeat(self, session_id: int, lease_token: Optional[str] = None) -> Dict[str, Any]:
        """Extend a lease by the server's lease TTL. LeaseMismatch when it is no longer ours."""
        token = lease_token or self.lease_token(session_id)
        if not token:
            raise ValueError('no lease token for session {}: lease it with get_session() first'.format(session_id))
        return self._request('POST', '/heartbeat',  # type: ignore[no-any-return]
                             {'session_id': session_id, 'lease_token': token})

    # --- the context manager ----------------------------------------------------------

    @contextmanager
    def session(self, *, max_wait: Any = _UNSET, heartbeat_interval: Optional[float] = None,
                format: Optional[str] = None, scope: Any = None, tag: Any = None) -> Iterator[Lease]:
        """
        ``with client.session() as s:`` leases a session (waiting as the
        client's ``auto_wait`` and ``max_wait`` say, or this call's
        ``max_wait``), heartbeats while the block runs, and releases it at the end. A Telegram RPC
        error escaping the block is sent to /report (its name and method; the
        server's table decides what happens to the session), then re-raised.
        ``scope``: the methods the block will call (only a session resting on
        none of them is issued); ``tag``: only a session carrying every tag.

        Heartbeats go every min(lease TTL / 3, ``heartbeat_interval`` = 60 s).
        When one answers 409 or 404 the lease is lost: ``s.lease_lost`` is set,
        ``s.raise_if_lost()`` raises LeaseLost (call it between steps of long
        work), nothing is released with the stale token, and the block's end
        raises LeaseLost (an exception escaping the block is re-raised as it
        is). A thread cannot be interrupted: code that never checks keeps
        running until the block ends.
        """
        lease = Lease(self, self.get_session(max_wait=max_wait, format=format, scope=scope, tag=tag))
        beat = _Heartbeat(lease, heartbeat_interval_for(lease, heartbeat_interval or self.heartbeat_interval))
        beat.start()
        try:
            yield lease
        except BaseException as exc:
            beat.stop()
            if exc is lease.lost_error:
                raise
            lease.report_error(exc)
            if not lease.ended:
                try:
                    lease.release()
                except LeaseMismatch:
                    pass
                except Exception as err:  # the block's error matters more
                    log.warning('session %s: release failed: %s', lease.session_id, err)
            raise
        finally:
            beat.stop()
        lease.raise_if_lost()
        if not lease.ended:
            try:
                lease.release()
            except LeaseMismatch:
                log.warning('session %s: lease was lost before release', lease.session_id)


def _listing(v: Any) -> Optional[str]:
    """A scope / tag parameter: one name, or a list sent comma-separated."""
    if v is None or isinstance(v, str):
        return v or None
    return ','.join(v) or None


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw.decode('utf-8'))
    except ValueError:
        return raw.decode('utf-8', 'replace')

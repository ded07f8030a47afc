"""Exceptions of the TeleGate client. All derive from TeleGateError."""
from typing import Any, Optional


class TeleGateError(Exception):
    """Base class of every error this client raises."""


class NoSessionAvailable(TeleGateError):
    """
    No session could be leased (HTTP 503 ``no_free_session``), and auto-wait
    was off, gave up (``max_wait``), or saw that none can ever become free.

    Attributes (as the original client had them):
      waiting_count    sessions in flood wait or invalidated (the 503's ``in_floodwait``)
      next_release_in  seconds until the earliest flood wait ends, or None
    and, when the server says so, ``in_use`` (sessions currently leased).
    """

    def __init__(self, waiting_count: int = 0, next_release_in: Optional[int] = None,
                 in_use: Optional[int] = None, message: Optional[str] = None,
                 recovering: bool = False) -> None:
        self.waiting_count = waiting_count
        self.next_release_in = next_release_in
        self.in_use = in_use
        # True for 503 ``store_recovering``: the server holds issuing after its store
        # lost data, and next_release_in is the time left of that grace.
        self.recovering = recovering
        if message is None and recovering:
            message = ('No session issued: the server is recovering from a store data loss; '
                       'issuing resumes in {} s'.format(next_release_in))
        if message is None:
            message = 'No free session: {} in flood wait'.format(waiting_count)
            if in_use is not None:
                message += ', {} in use'.format(in_use)
            message += '; next release in {} s'.format(next_release_in) if next_release_in is not None \
                else '; no flood wait ends by itself'
        self.message = message
        super().__init__(message)

    def __reduce__(self) -> Any:
        return type(self), (self.waiting_count, self.next_release_in, self.in_use, self.message)


class TeleGateHTTPError(TeleGateError):
    """The server answered with an error status. ``detail`` is the JSON ``detail``."""

    def __init__(self, status: int, detail: Any = None, method: str = '', path: str = '') -> None:
        self.status = status
        self.detail = detail
        self.method = method
        self.path = path
        where = '{} {}: '.format(method, path) if method else ''
        super().__init__('{}HTTP {}: {}'.format(where, status, detail))

    def __reduce__(self) -> Any:
        return type(self), (self.status, self.detail, self.method, self.path)


class AuthError(TeleGateHTTPError):
    """401 (no API key) or 403 (unknown key, or an admin-only endpoint with a non-admin key)."""


class LeaseMismatch(TeleGateHTTPError):
    """409 ``lease_mismatch``: the lease this client holds is no longer the session's current one."""

    @property
    def session_id(self) -> Optional[int]:
        return self.detail.get('session_id') if isinstance(self.detail, dict) else None


class SessionNotFound(TeleGateHTTPError):
    """404 for an id the server does not know (``/floodwait``, ``/restore``, ``/heartbeat``)."""


class LeaseLost(TeleGateError):
    """
    The lease ``session()`` held is no longer ours: a heartbeat answered 409 or
    404 (it expired, an operator released, invalidated or restored it, or the
    store lost its data). Someone else may hold the session now: stop using it.
    ``session_id``; ``__cause__`` is the server's answer.
    """

    def __init__(self, session_id: int, reason: str = '') -> None:
        self.session_id = session_id
        self.reason = reason
        super().__init__('session {}: lease lost{}'.format(session_id, ' ({})'.format(reason) if reason else ''))

    def __reduce__(self) -> Any:
        return type(self), (self.session_id, self.reason)


class TeleGateConnectionError(TeleGateError, ConnectionError):
    """The server could not be reached (or did not answer in time), after the allowed retries."""


def http_error(status: int, detail: Any, method: str, path: str) -> TeleGateHTTPError:
    """The most specific exception for an error answer."""
    if status in (401, 403):
        cls = AuthError
    elif status == 409 and isinstance(detail, dict) and detail.get('error') == 'lease_mismatch':
        cls = LeaseMismatch
    elif status == 404 and path != '' and detail == 'Session not found':
        cls = SessionNotFound
    else:
        cls = TeleGateHTTPError
    return cls(status, detail, method, path)

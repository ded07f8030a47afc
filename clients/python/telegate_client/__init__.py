"""
telegate_client: Python client of TeleGate, the Telegram .session lease
service. Standard library only; Python >= 3.8.

A drop-in for the original ``TelegramSessionManagerClient`` (``get_session``,
``release_session``, ``get_status``, ``NoSessionAvailable``), plus lease
tokens, heartbeats, flood-wait and ban reporting, and a context manager::

    client = TelegramSessionManagerClient('http://telegate:8000', 'key')
    with client.session() as s:
        ...  # use s.session_name; FLOOD_WAIT / dead-session errors are reported
"""
__version__ = '0.1.0'

from .client import Lease, TelegramSessionManagerClient  # noqa: E402
from .errors import (AuthError, LeaseLost, LeaseMismatch, NoSessionAvailable, SessionNotFound,  # noqa: E402
                     TeleGateConnectionError, TeleGateError, TeleGateHTTPError)
from .telegram_errors import floodwait_seconds, rpc_error_of  # noqa: E402
from .aio import AsyncLease, AsyncTelegramSessionManagerClient  # noqa: E402

#: Shorter alias.
TeleGateClient = TelegramSessionManagerClient

__all__ = [
    'TelegramSessionManagerClient', 'TeleGateClient', 'AsyncTelegramSessionManagerClient', 'Lease', 'AsyncLease',
    'TeleGateError', 'NoSessionAvailable', 'TeleGateHTTPError', 'AuthError', 'LeaseLost', 'LeaseMismatch', 'SessionNotFound',
    'TeleGateConnectionError', 'floodwait_seconds', 'rpc_error_of', '__version__',
]

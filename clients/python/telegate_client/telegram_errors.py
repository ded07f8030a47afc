"""
Find the Telegram RPC error in an exception raised by Telethon, Pyrogram (or
anything else), by duck typing: its NAME as Telegram sent it and the METHOD
that raised it. Nothing here imports a Telegram library, and nothing here
decides what the error means for the session: ``POST /report`` sends both to
the server, whose one table decides (rest the method, invalidate, or nothing).

  Telethon 1.x  known errors are classes named after the error
                (PeerFloodError -> PEER_FLOOD); the waits keep only ``.seconds``
                (FloodWaitError -> FLOOD_WAIT_<seconds>, SlowModeWaitError ->
                SLOWMODE_WAIT_<seconds>); unknown ones are a base class
                (BadRequestError, ...) with the name in ``.message``; the method
                is ``e.request`` (SendMessageRequest in telethon.tl.functions.messages
                -> messages.SendMessage)
  Telethon 2.x  RpcError with ``.name`` ('FLOOD_WAIT') and ``.value``
  Pyrogram      ``.ID`` ('FLOOD_WAIT_X') with ``.value`` (1.x: ``.x``); the method in
                the message: '... (caused by "messages.SendMessage")'
  anything      a message "<code>: <NAME> ..." or "[<code> <NAME>]", or one naming
                FLOOD_WAIT_<n> / FLOOD_PREMIUM_WAIT_<n>

The error's ``__cause__`` / ``__context__`` chain is searched too, so a worker
that wraps the library's error in its own still gets it reported.
"""
import re
from typing import Iterator, Optional, Tuple

MAX_FLOODWAIT_SECONDS = 31536000
_MAX_CHAIN = 8
_NAME = re.compile(r'^[A-Z0-9_]{2,128}$')
_CODED = re.compile(r'(?:^|\[|RPCError )-?\d{3}:? ([A-Z0-9_]{2,128})\b')
_FLOOD = re.compile(r'(?<![A-Z0-9_])(FLOOD(?:_PREMIUM)?_WAIT_\d+)(?![A-Z0-9_])')
_CAUSED_BY = re.compile(r'\(caused by "?([A-Za-z0-9_.]{1,64})"?\)')
#: Telethon 1.x classes whose name is not the error's (base classes carry it in .message).
_GENERIC = {'RPCError', 'InvalidDCError', 'BadRequestError', 'UnauthorizedError', 'ForbiddenError',
            'NotFoundError', 'AuthKeyError', 'FloodError', 'ServerError', 'TimedOutError'}
_RENAMED = {'SLOW_MODE_WAIT': 'SLOWMODE_WAIT'}


def _snake(class_name: str) -> str:
    """PeerFloodError -> PEER_FLOOD; FloodPremiumWaitError -> FLOOD_PREMIUM_WAIT."""
    if class_name.endswith('Error'):
        class_name = class_name[:-5]
    name = re.sub(r'(?<=[a-z0-9])(?=[A-Z])', '_', class_name).upper()
    return _RENAMED.get(name, name)


def _int(v: object) -> Optional[int]:
    if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        return min(v, MAX_FLOODWAIT_SECONDS)
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen = set()
    cur: Optional[BaseException] = exc
    while cur is not None and id(cur) not in seen and len(seen) < _MAX_CHAIN:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or (None if cur.__suppress_context__ else cur.__context__)


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a broken __str__ must not break the worker's error path
        return ''


def _name(exc: BaseException) -> Optional[str]:
    classes = [c.__name__ for c in type(exc).__mro__]
    # Pyrogram: ID 'FLOOD_WAIT_X' + value (1.x: x)
    pid = getattr(exc, 'ID', None)
    if isinstance(pid, str) and _NAME.match(pid):
        n = _int(getattr(exc, 'value', None))
        n = _int(getattr(exc, 'x', None)) if n is None else n
        return pid[:-1] + str(n) if pid.endswith('_X') and n is not None else pid
    # Telethon 2.x: name 'FLOOD_WAIT' + value
    tname = getattr(exc, 'name', None)
    if isinstance(tname, str) and _NAME.match(tname) and 'RpcError' in classes:
        n = _int(getattr(exc, 'value', None))
        return tname if n is None else '{}_{}'.format(tname, n)
    # Telethon 1.x: the class names the error, or (a base class) .message does
    if 'RPCError' in classes:
        cls = type(exc).__name__
        if cls in _GENERIC:
            msg = getattr(exc, 'message', None)
            if isinstance(msg, str) and _NAME.match(msg) and msg != 'FLOOD':
                return msg
        else:
            n = _int(getattr(exc, 'seconds', None))
            return _snake(cls) if n is None else '{}_{}'.format(_snake(cls), n)
    m = _CODED.search(_text(exc)) or _FLOOD.search(_text(exc))
    return m.group(1) if m else None


def _method(exc: BaseException) -> Optional[str]:
    if hasattr(exc, 'request'):
        # Telethon: the request object (its message says "(caused by SendMessageRequest)", or NoneType)
        req = getattr(exc, 'request')
        if req is None or not hasattr(req, 'CONSTRUCTOR_ID'):
            return None
        # telethon.tl.functions.messages.SendMessageRequest -> messages.SendMessage
        cls = type(req).__name__
        cls = cls[:-7] if cls.endswith('Request') else cls
        module = type(req).__module__.rsplit('.', 1)[-1]
        return cls if module == 'functions' else '{}.{}'.format(module, cls)
    m = _CAUSED_BY.search(_text(exc))
    return m.group(1) if m else None


def rpc_error_of(exc: BaseException) -> Optional[Tuple[str, Optional[str]]]:
    """(error name, method or None) of the Telegram RPC error in ``exc`` or its causes; None when there is none."""
    for e in _chain(exc):
        name = _name(e)
        if name is not None:
            return name, _method(e)
    return None


def floodwait_seconds(exc: BaseException) -> Optional[int]:
    """Seconds Telegram asked to wait, when ``exc`` (or its cause) is a FLOOD_WAIT / FLOOD_PREMIUM_WAIT; else None."""
    found = rpc_error_of(exc)
    m = re.match(r'^FLOOD(?:_PREMIUM)?_WAIT_(\d+)$', found[0]) if found else None
    return min(int(m.group(1)), MAX_FLOODWAIT_SECONDS) if m else None

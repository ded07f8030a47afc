"""
Recognise Telegram errors raised by Telethon, Pyrogram (or anything else) by
duck typing: class names, attributes and messages. Nothing here imports a
Telegram library.

  Telethon 1.x  FloodWaitError / FloodPremiumWaitError with ``.seconds``;
                AuthKeyUnregisteredError, ... (class names; messages are prose)
  Telethon 2.x  RpcError with ``.name`` ('FLOOD_WAIT', 'AUTH_KEY_UNREGISTERED') and ``.value``
  Pyrogram 2.x  FloodWait / FloodPremiumWait with ``.value``; 1.x ``.x``;
                ``.ID`` ('FLOOD_WAIT_X', 'AUTH_KEY_UNREGISTERED'); message "[420 FLOOD_WAIT_X] ..."
  anything      a message containing FLOOD_WAIT_<n> / FLOOD_PREMIUM_WAIT_<n>, or one of the
                invalidating error names below

The error's ``__cause__`` / ``__context__`` chain is searched too, so a worker
that wraps the library's error in its own still gets it reported.
"""
import re
from typing import Iterator, List, Optional, Tuple

#: Telegram errors after which a session can never work again: /invalidate with this reason.
INVALIDATING = ('AUTH_KEY_UNREGISTERED', 'AUTH_KEY_DUPLICATED', 'SESSION_REVOKED',
                'USER_DEACTIVATED_BAN', 'USER_DEACTIVATED')

FLOOD_MESSAGE = re.compile(r'(?<![A-Z0-9_])FLOOD(?:_PREMIUM)?_WAIT_(\d+)(?![A-Z0-9_])')
_INVALIDATING_MESSAGE = re.compile(r'(?<![A-Z0-9_])(' + '|'.join(INVALIDATING) + r')(?![A-Z0-9_])')
_FLOOD_NAMES = {'FLOOD_WAIT', 'FLOOD_PREMIUM_WAIT'}
_SECONDS_ATTRS = ('seconds', 'value', 'x')
_STRING_ATTRS = ('ID', 'name', 'message', 'error_message', 'errorMessage')
MAX_FLOODWAIT_SECONDS = 31536000
_MAX_CHAIN = 8


def _snake(class_name: str) -> str:
    """FloodPremiumWaitError -> FLOOD_PREMIUM_WAIT; AuthKeyUnregistered -> AUTH_KEY_UNREGISTERED."""
    if class_name.endswith('Error'):
        class_name = class_name[:-5]
    return re.sub(r'(?<=[a-z0-9])(?=[A-Z])', '_', class_name).upper()


def _names(exc: BaseException) -> List[str]:
    """Error names this exception goes by: its classes (MRO) and name-like attributes, upper-cased."""
    names = [_snake(c.__name__) for c in type(exc).__mro__ if c not in (BaseException, Exception, object)]
    for attr in _STRING_ATTRS:
        v = getattr(exc, attr, None)
        if isinstance(v, str) and v:
            names.append(v.strip().upper())
    return names


def _texts(exc: BaseException) -> Iterator[str]:
    try:
        yield str(exc)
    except Exception:  # a broken __str__ must not break the worker's error path
        pass
    for attr in _STRING_ATTRS:
        v = getattr(exc, attr, None)
        if isinstance(v, str):
            yield v


def _seconds_attr(exc: BaseException) -> Optional[int]:
    for attr in _SECONDS_ATTRS:
        v = getattr(exc, attr, None)
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            return v
        if isinstance(v, str) and v.isdigit():
            return int(v)
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen = set()
    cur: Optional[BaseException] = exc
    while cur is not None and id(cur) not in seen and len(seen) < _MAX_CHAIN:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or (None if cur.__suppress_context__ else cur.__context__)


def floodwait_seconds(exc: BaseException) -> Optional[int]:
    """Seconds Telegram asked to wait, when ``exc`` (or its cause) is a FLOOD_WAIT; else None."""
    for e in _chain(exc):
        names = _names(e)
        if any((n[:-2] if n.endswith('_X') else n) in _FLOOD_NAMES for n in names):
            s = _seconds_attr(e)
            if s is not None:
                return min(s, MAX_FLOODWAIT_SECONDS)
        for text in _texts(e):
            m = FLOOD_MESSAGE.search(text)
            if m:
                return min(int(m.group(1)), MAX_FLOODWAIT_SECONDS)
    return None


def invalidation_reason(exc: BaseException) -> Optional[str]:
    """AUTH_KEY_UNREGISTERED / ... when ``exc`` (or its cause) says the session is dead; else None."""
    for e in _chain(exc):
        for n in _names(e):
            if n in INVALIDATING:
                return n
        for text in _texts(e):
            m = _INVALIDATING_MESSAGE.search(text)
            if m:
                return m.group(1)
    return None


def classify(exc: BaseException) -> Optional[Tuple[str, object]]:
    """('floodwait', seconds), ('invalidate', reason) or None."""
    seconds = floodwait_seconds(exc)
    if seconds is not None:
        return ('floodwait', seconds)
    reason = invalidation_reason(exc)
    if reason is not None:
        return ('invalidate', reason)
    return None

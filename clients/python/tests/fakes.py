"""
Fake Telegram errors shaped like the libraries' own (class names, attributes,
messages), so the client's duck typing is tested without installing them; and
the shared test vectors (test/vectors/telegram-errors.json) as such errors.
"""
import json
import os
import re

VECTORS = json.load(open(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'test', 'vectors',
                                      'telegram-errors.json')))['vectors']


# --- Telethon 1.x (telethon.errors.rpcerrorlist) -----------------------------------

class RPCError(Exception):
    code = None
    message = None


class FloodError(RPCError):
    code = 420
    message = 'FLOOD'


class FloodWaitError(FloodError):
    def __init__(self, request=None, capture=0):
        self.request = request
        self.seconds = int(capture)
        super(Exception, self).__init__('A wait of {} seconds is required (caused by SendMessageRequest)'
                                        .format(self.seconds))


class FloodPremiumWaitError(FloodError):
    def __init__(self, request=None, capture=0):
        self.request = request
        self.seconds = int(capture)
        super(Exception, self).__init__('A wait of {} seconds is required'.format(self.seconds))


class SlowModeWaitError(FloodError):
    """Per chat, not per account: must not be reported."""

    def __init__(self, request=None, capture=0):
        self.seconds = int(capture)
        super(Exception, self).__init__('A wait of {} seconds is required before sending another message in this chat'
                                        .format(self.seconds))


class UnauthorizedError(RPCError):
    code = 401
    message = 'UNAUTHORIZED'


class AuthKeyUnregisteredError(UnauthorizedError):
    def __init__(self, request=None):
        super(Exception, self).__init__('The key is not registered in the system (caused by GetUsersRequest)')


class SessionRevokedError(UnauthorizedError):
    def __init__(self, request=None):
        super(Exception, self).__init__('The authorization has been invalidated, because of the user terminating all '
                                        'sessions (caused by GetUsersRequest)')


class UserDeactivatedBanError(UnauthorizedError):
    def __init__(self, request=None):
        super(Exception, self).__init__('The user has been deleted/deactivated (caused by GetUsersRequest)')


class AuthKeyDuplicatedError(RPCError):
    code = 406

    def __init__(self, request=None):
        super(Exception, self).__init__('The authorization key (session file) was used under two different IP '
                                        'addresses simultaneously')


# --- Pyrogram (pyrogram.errors) -----------------------------------------------------

class PyroRPCError(Exception):
    ID = None
    CODE = None
    NAME = None
    MESSAGE = '{value}'

    def __init__(self, value=None, rpc_name=None):
        super().__init__('Telegram says: [{} {}] - {}'.format(self.CODE, self.ID, self.MESSAGE.format(value=value)))
        self.value = value


class Flood(PyroRPCError):
    CODE = 420
    NAME = 'Flood'


class FloodWait(Flood):
    ID = 'FLOOD_WAIT_X'
    MESSAGE = 'A wait of {value} seconds is required'


class Unauthorized(PyroRPCError):
    CODE = 401
    NAME = 'Unauthorized'


class UserDeactivatedBan(Unauthorized):
    ID = 'USER_DEACTIVATED_BAN'
    MESSAGE = 'The user has been deleted/deactivated'


class FloodWaitPyrogram1(Exception):
    """Pyrogram 1.x: the number is ``.x``."""

    ID = 'FLOOD_WAIT_X'

    def __init__(self, x):
        self.x = x
        super().__init__('[420 FLOOD_WAIT_X]: A wait of {} seconds is required'.format(x))


FloodWaitPyrogram1.__name__ = 'FloodWait'


# --- Telethon 2.x ---------------------------------------------------------------------

class RpcError(Exception):
    def __init__(self, code, name, value=None):
        self.code = code
        self.name = name
        self.value = value
        super().__init__('rpc error {}: {}{}'.format(code, name, '' if value is None else ' ({})'.format(value)))


class BadRequestError(RPCError):
    code = 400
    message = 'BAD_REQUEST'


class _Request:
    """A Telethon TLRequest: CONSTRUCTOR_ID, class <Method>Request in telethon.tl.functions.<namespace>."""
    CONSTRUCTOR_ID = 0


def telethon_request(method):
    namespace, _, name = method.rpartition('.')
    cls = type(name[:1].upper() + name[1:] + 'Request', (_Request,), {})
    cls.__module__ = 'telethon.tl.functions' + ('.' + namespace if namespace else '')
    return cls()


def capped(name):
    m = re.match(r'^(FLOOD_WAIT)_(\d+)$', name)
    return '{}_{}'.format(m.group(1), min(int(m.group(2)), 31536000)) if m else name


def telethon_error(v):
    """A vector as Telethon 1.x raises it: FloodWaitError for FLOOD_WAIT_X, else an unknown-name RPCError."""
    request = telethon_request(v['method']) if v['method'] else None
    m = re.match(r'^FLOOD_WAIT_(\d+)$', v['error'])
    if m:
        return FloodWaitError(request=request, capture=int(m.group(1)))
    e = BadRequestError('RPCError 400: {}'.format(v['error']))
    e.message = v['error']
    e.request = request
    return e


def pyrogram_error(v):
    """A vector as Pyrogram raises it: ID 'NAME' (or 'FLOOD_WAIT_X' + value), the method in the message."""
    m = re.match(r'^(.*_)(\d+)$', v['error'])
    pid, value = (m.group(1) + 'X', int(m.group(2))) if m else (v['error'], None)
    cls = type('Err', (PyroRPCError,), {'ID': pid, 'CODE': 400})
    e = cls(value=value)
    if v['method']:
        e.args = (e.args[0] + ' (caused by "{}")'.format(v['method']),)
    return e


def telethon2_error(v):
    m = re.match(r'^(.*)_(\d+)$', v['error'])
    return RpcError(400, m.group(1), int(m.group(2))) if m else RpcError(400, v['error'])

"""
Fake Telegram errors shaped like the libraries' own (class names, attributes,
messages), so the client's duck typing is tested without installing them.
"""


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

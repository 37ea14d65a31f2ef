"""The storage error tree.

StorageError
├── IllegalTransition   a status change the state machine does not allow
├── RequestNotFound     no request with that id
├── RoleError           an invalid user id or role, or a change the rules forbid
└── DatabaseBusy        no turn to write came within the busy timeout (another writer hangs)
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of every error raised by the storage package."""


class IllegalTransition(StorageError):
    pass


class RequestNotFound(StorageError):
    pass


class RoleError(StorageError):
    pass


class DatabaseBusy(StorageError, TimeoutError):
    pass

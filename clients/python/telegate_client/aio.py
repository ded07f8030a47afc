"""
asyncio variant, still standard library only: each HTTP call of the blocking
client runs in the loop's default executor, waits between tries are
``asyncio.sleep``, and the heartbeat is the same daemon thread.

    client = AsyncTelegramSessionManagerClient(url, key)
    async with client.session() as s:
        ...
"""
import asyncio
import functools
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable, Dict, Optional

from .client import _UNSET, Lease, TelegramSessionManagerClient, _Heartbeat, heartbeat_interval_for, log
from .errors import LeaseMismatch, NoSessionAvailable


class AsyncLease:
    """The async face of a Lease: same attributes, awaitable methods."""

    def __init__(self, lease: Lease, run: Callable[..., Any]) -> None:
        self._lease = lease
        self._run = run

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lease, name)

    def __getitem__(self, key: str) -> Any:
        return self._lease[key]

    def __repr__(self) -> str:
        return repr(self._lease).replace('<Lease', '<AsyncLease', 1)

    async def heartbeat(self) -> Dict[str, Any]:
        return await self._run(self._lease.heartbeat)  # type: ignore[no-any-return]

    async def release(self) -> bool:
        return await self._run(self._lease.release)  # type: ignore[no-any-return]

    async def report_floodwait(self, seconds: int) -> Dict[str, Any]:
        return await self._run(self._lease.report_floodwait, seconds)  # type: ignore[no-any-return]

    async def invalidate(self, reason: Optional[str] = None) -> Dict[str, Any]:
        return await self._run(self._lease.invalidate, reason)  # type: ignore[no-any-return]

    async def report_error(self, exc: BaseException) -> bool:
        return await self._run(self._lease.report_error, exc)  # type: ignore[no-any-return]


class AsyncTelegramSessionManagerClient:
    """Same constructor, options and methods as TelegramSessionManagerClient, as coroutines."""

    def __init__(self, base_url: str, api_key: str, auto_wait: bool = True, **options: Any) -> None:
        self.sync = TelegramSessionManagerClient(base_url, api_key, auto_wait, **options)

    async def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, *args, **kwargs))

    async def _acquire_once(self, wait: int, format: Optional[str] = None, scope: Any = None,
                            tag: Any = None) -> Dict[str, Any]:
        return await self._leasing(self.sync._acquire_once, wait, format, scope, tag)

    async def release_and_next(self, session_id: int, lease_token: Optional[str] = None, **kw: Any) -> Dict[str, Any]:
        """The blocking client's release_and_next(): give back and lease the next session in one request."""
        return await self._leasing(functools.partial(self.sync.release_and_next, session_id, lease_token, **kw))

    async def floodwait_and_next(self, session_id: int, seconds: int, lease_token: Optional[str] = None,
                                 **kw: Any) -> Dict[str, Any]:
        """The blocking client's floodwait_and_next()."""
        return await self._leasing(functools.partial(self.sync.floodwait_and_next, session_id, seconds, lease_token, **kw))

    async def _leasing(self, fn: Callable[..., Dict[str, Any]], *args: Any) -> Dict[str, Any]:
        """Run a call that leases a session in a thread; a session it still gets after a cancel is given back."""
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(None, fn, *args)
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            # The request goes on in its thread: if it still gets a session, give it back.
            def give_back(f: 'asyncio.Future[Dict[str, Any]]') -> None:
                if not f.cancelled() and f.exception() is None:
                    s = f.result()
                    loop.run_in_executor(None, self.sync.release_session, s['session_id'])
            fut.add_done_callback(give_back)
            raise

    async def get_session(self, *, max_wait: Any = _UNSET, auto_wait: Optional[bool] = None,
                          format: Optional[str] = None, scope: Any = None, tag: Any = None) -> Dict[str, Any]:
        auto = self.sync.auto_wait if auto_wait is None else auto_wait
        plan = self.sync._plan(max_wait)
        told = False
        while True:
            wait = plan.poll_seconds() if auto else 0
            started = time.monotonic()
            try:
                return await self._acquire_once(wait, format, scope, tag)
            except NoSessionAvailable as exc:
                if not auto:
                    raise
                delay = plan.after_503(exc, wait, time.monotonic() - started)
                if not told or delay >= 1:
                    self.sync._tell_waiting(exc, plan)
                    told = True
                if delay > 0:
                    await asyncio.sleep(delay)

    async def release_session(self, session_id: int, lease_token: Optional[str] = None) -> bool:
        return await self._run(self.sync.release_session, session_id, lease_token)  # type: ignore[no-any-return]

    async def get_status(self) -> Dict[str, Any]:
        return await self._run(self.sync.get_status)  # type: ignore[no-any-return]

    async def report_floodwait(self, session_id: int, seconds: int, lease_token: Optional[str] = None) -> Dict[str, Any]:
        return await self._run(self.sync.report_floodwait, session_id, seconds,  # type: ignore[no-any-return]
                               lease_token)

    async def report(self, session_id: int, error: str, method: Optional[str] = None,
                     lease_token: Optional[str] = None) -> Dict[str, Any]:
        return await self._run(self.sync.report, session_id, error, method, lease_token)  # type: ignore[no-any-return]

    async def invalidate_session(self, session_id: int, reason: Optional[str] = None) -> Dict[str, Any]:
        return await self._run(self.sync.invalidate_session, session_id, reason)  # type: ignore[no-any-return]

    async def restore_session(self, session_id: int) -> Dict[str, Any]:
        return await self._run(self.sync.restore_session, session_id)  # type: ignore[no-any-return]

    async def heartbeat(self, session_id: int, lease_token: Optional[str] = None) -> Dict[str, Any]:
        return await self._run(self.sync.heartbeat, session_id, lease_token)  # type: ignore[no-any-return]

    @asynccontextmanager
    async def session(self, *, max_wait: Any = _UNSET, heartbeat_interval: Optional[float] = None,
                      format: Optional[str] = None, scope: Any = None, tag: Any = None) -> AsyncIterator[AsyncLease]:
        """
        ``async with client.session() as s:``, with the semantics of the blocking
        session(); and when a heartbeat says the lease is lost (409/404), the
        task running the block is cancelled at its next await, and the
        CancelledError leaves the block as LeaseLost.
        """
        lease = Lease(self.sync, await self.get_session(max_wait=max_wait, format=format, scope=scope, tag=tag))
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        state = {'open': True, 'cancelled': False}

        def cancel_block() -> None:  # on the loop's thread
            if state['open'] and task is not None:
                state['cancelled'] = True
                task.cancel()

        def on_lost() -> None:  # on the heartbeat thread
            try:
                loop.call_soon_threadsafe(cancel_block)
            except RuntimeError:
                pass  # the loop is closed: nothing left to cancel

        lease.on_lost = on_lost
        beat = _Heartbeat(lease, heartbeat_interval_for(lease, heartbeat_interval or self.sync.heartbeat_interval))
        beat.start()
        try:
            yield AsyncLease(lease, self._run)
        except BaseException as exc:
            state['open'] = False
            beat.stop()
            if lease.lost_error is not None and (exc is lease.lost_error or (
                    isinstance(exc, asyncio.CancelledError) and state['cancelled'])):
                if state['cancelled'] and hasattr(task, 'uncancel'):
                    task.uncancel()  # type: ignore[union-attr]  # Python >= 3.11: this cancellation is handled here
                raise lease.lost_error  # its cause: the server's answer; its context: exc
            await self._run(lease.report_error, exc)
            if not lease.ended:
                try:
                    await self._run(lease.release)
                except LeaseMismatch:
                    pass
                except Exception as err:
                    log.warning('session %s: release failed: %s', lease.session_id, err)
            raise
        finally:
            state['open'] = False
            beat.stop()
        if state['cancelled'] and hasattr(task, 'uncancel'):
            task.uncancel()  # type: ignore[union-attr]  # the block swallowed our cancellation
        lease.raise_if_lost()
        if not lease.ended:
            try:
                await self._run(lease.release)
            except LeaseMismatch:
                log.warning('session %s: lease was lost before release', lease.session_id)

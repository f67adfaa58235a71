"""strawberry's schema extensions run without a context manager per hook and request.

For each stage of an operation (operation, parsing, validation, execution) strawberry
looks up every extension's hook with ``inspect``, wraps each generator hook in
``contextlib.contextmanager`` (a bound method, ``functools.wraps``) and enters them all
through an ``ExitStack``: ~0.3 ms of CPU per request for paygate's eight extensions,
whatever the operation (a quarter of a ``{ __typename }`` request). :class:`LeanSchema`
runs the same hooks, in the same order and with the same handling of exceptions as those
context managers (a hook may catch, replace or suppress the exception of what it wraps),
driving each generator directly; what a hook is is looked up once per extension class.
A stage with a hook that is neither a generator nor an async generator function (a plain
callable) goes through strawberry's own context manager, as does ``on_stream_result``.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import AsyncGenerator, Generator
from types import TracebackType
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    ExtensionContextManagerBase,
    OperationContextManager,
    ParsingContextManager,
    ValidationContextManager,
)
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext


class HookKind(enum.Enum):
    """What an extension's hook for a stage is."""

    SYNC = "sync"  # a generator function: driven here
    ASYNC = "async"  # an async generator function: driven here
    OTHER = "other"  # anything else: the stage goes through strawberry's context manager


_SYNC, _ASYNC, _OTHER = HookKind.SYNC, HookKind.ASYNC, HookKind.OTHER
# (extension class, hook name) -> its kind, or None when the class leaves the hook out
_KINDS: dict[tuple[type, str], HookKind | None] = {}
# extension class -> whether it has results of its own (``get_results``)
_RESULTS: dict[type, bool] = {}


def _kind(cls: type, name: str) -> HookKind | None:
    key = (cls, name)
    try:
        return _KINDS[key]
    except KeyError:
        hook = getattr(cls, name)
        kind: HookKind | None = None
        if hook is not getattr(SchemaExtension, name):
            if inspect.isgeneratorfunction(hook):
                kind = _SYNC
            elif inspect.isasyncgenfunction(hook):
                kind = _ASYNC
            else:
                kind = _OTHER
        _KINDS[key] = kind
        return kind


Hook = tuple[Any, bool]  # (the generator, whether it is an async one)
_DONE = object()  # a hook's generator ended instead of yielding (contextlib's error)


class _Stage:
    """One stage's hooks of one operation, as a sync or async context manager."""

    __slots__ = ("_entered", "_hooks")

    def __init__(self, hooks: list[tuple[SchemaExtension, Any, bool]]) -> None:
        self._hooks = hooks
        self._entered: list[Hook] = []

    def __enter__(self) -> None:
        for extension, hook, is_async in self._hooks:
            if is_async:
                raise RuntimeError(
                    f"SchemaExtension hook {extension}.{hook.__name__} "
                    "failed to complete synchronously."
                )
            generator = hook(extension)
            if next(generator, _DONE) is _DONE:
                raise RuntimeError("generator didn't yield")
            self._entered.append((generator, False))

    async def __aenter__(self) -> None:
        for extension, hook, is_async in self._hooks:
            generator = hook(extension)
            first = await anext(generator, _DONE) if is_async else next(generator, _DONE)
            if first is _DONE:
                raise RuntimeError("generator didn't yield")
            self._entered.append((generator, is_async))

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: TracebackType | None
    ) -> bool:
        pending = error
        while self._entered:
            generator, _is_async = self._entered.pop()
            pending = _close(generator, pending)
        return _outcome(error, pending)

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: TracebackType | None
    ) -> bool:
        pending = error
        while self._entered:
            generator, is_async = self._entered.pop()
            if is_async:
                pending = await _aclose(generator, pending)
            else:
                pending = _close(generator, pending)
        return _outcome(error, pending)


def _close(generator: Generator[Any, None, None], pending: BaseException | None) -> Any:
    """Resume a hook after what it wraps, with ``pending`` (the exception so far, or
    ``None``) thrown in; the exception after it: ``None`` when it ended or suppressed it, a
    new one when it raised one (contextlib's ``contextmanager`` and ``ExitStack``)."""
    if pending is None:
        try:
            next(generator)
        except StopIteration:
            return None
        except BaseException as raised:
            return raised
        return RuntimeError("generator didn't stop")
    try:
        generator.throw(pending)
    except StopIteration as stop:
        return None if stop is not pending else pending
    except BaseException as raised:
        return raised
    return RuntimeError("generator didn't stop after throw()")


async def _aclose(generator: AsyncGenerator[Any, None], pending: BaseException | None) -> Any:
    """:func:`_close` for an async generator hook."""
    if pending is None:
        try:
            await anext(generator)
        except StopAsyncIteration:
            return None
        except BaseException as raised:
            return raised
        return RuntimeError("generator didn't stop")
    try:
        await generator.athrow(pending)
    except StopAsyncIteration as stop:
        return None if stop is not pending else pending
    except BaseException as raised:
        return raised
    return RuntimeError("generator didn't stop after athrow()")


def _outcome(error: BaseException | None, pending: BaseException | None) -> bool:
    """``__exit__``'s answer: ``True`` when the hooks suppressed ``error``; raises the
    exception a hook put in its place."""
    if pending is None:
        return error is not None
    if pending is error:
        return False
    raise pending


class LeanExtensionsRunner(SchemaExtensionsRunner):
    """strawberry's runner, with generator hooks run by :class:`_Stage`."""

    def _stage(self, manager: type[ExtensionContextManagerBase]) -> Any:
        name = manager.HOOK_NAME
        hooks = []
        for extension in self.extensions:
            kind = _kind(type(extension), name)
            if kind is None:
                continue
            if kind is _OTHER:
                return manager(self.extensions)
            hooks.append((extension, getattr(type(extension), name), kind is _ASYNC))
        return _Stage(hooks)

    def operation(self) -> Any:
        return self._stage(OperationContextManager)

    def validation(self) -> Any:
        return self._stage(ValidationContextManager)

    def parsing(self) -> Any:
        return self._stage(ParsingContextManager)

    def executing(self) -> Any:
        return self._stage(ExecutingContextManager)

    async def get_extensions_results(self, ctx: ExecutionContext) -> dict[str, Any]:
        """strawberry's, skipping the extensions that keep ``SchemaExtension``'s (none)."""
        data: dict[str, Any] = {}
        for extension in self.extensions:
            cls = type(extension)
            own = _RESULTS.get(cls)
            if own is None:
                own = _RESULTS[cls] = cls.get_results is not SchemaExtension.get_results
            if own:
                results = extension.get_results()
                if inspect.isawaitable(results):
                    results = await results
                data.update(results)
        data.update(ctx.extensions_results)
        return data


class LeanSchema(strawberry.Schema):
    """strawberry's schema, with :class:`LeanExtensionsRunner`."""

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return LeanExtensionsRunner(execution_context=execution_context, extensions=extensions)

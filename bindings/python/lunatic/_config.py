"""ProcessConfig: limits and permissions of spawned processes (the C ``lunatic_config``)."""

from __future__ import annotations

import threading
from typing import Any, Optional

from . import _lunatic

__all__ = ["ProcessConfig"]


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"ProcessConfig.{name} is an int, not {type(value).__name__}")
    if not 0 <= value < (1 << 64):
        raise ValueError(f"ProcessConfig.{name} must be between 0 and 2**64-1, not {value}")
    return value


class ProcessConfig:
    """Limits and permissions for the processes spawned with it (``spawn(..., config=cfg)``).

    The Python face of ``lunatic::ProcessConfig`` (C++) and ``lunatic_config``
    (C). **A new config grants nothing** until set (lunatic's rule): no
    spawning, no configs, no limits::

        cfg = lunatic.ProcessConfig(max_memory=16 << 20, can_spawn_processes=True)
        cfg.max_fuel = 50_000                    # µs of CPU time
        lunatic.spawn(worker, None, config=cfg)

    Creating one needs ``can_create_configs`` in the calling process's own
    config (the main thread and processes spawned without any config have
    every permission): else :class:`lunatic.PermissionError`. The values are
    copied at each spawn, so changing a config later does not touch processes
    already spawned with it. A spawn without a config gives the child the
    spawner's config (inheritance), recursively.

    Fields (each a read/write property; the ``set_*`` methods return the
    config for chaining, as the C++ setters do):

    ``max_memory``
        bytes the runtime may own for the process: its stack plus the bytes
        queued in its mailbox (0 = no limit). A spawn whose stack alone is over
        it raises :class:`lunatic.ResourceError`; a message that would take the
        mailbox over it fails the process with ``ExitReason.MEMORY_LIMIT``
        (reason text ``"memory limit"``) and is dropped. Python processes have
        8 MiB stacks by default: set ``stack_size`` too, or leave room.
    ``max_fuel``
        a CPU budget in microseconds of time spent running on a worker (0 =
        none). A process that has spent it fails at its next lunatic call
        (``sleep``, ``yield_``, ``receive``, a send, ...) with
        ``ExitReason.FUEL_EXHAUSTED``; a loop that never calls lunatic is not
        stopped (processes are cooperative: call :func:`lunatic.yield_`).
    ``can_spawn_processes``, ``can_create_configs``
        permissions (``False`` until set).
    ``stack_size``
        stack bytes of the processes spawned with it (0 = the default: 8 MiB
        for Python processes, the runtime's default for C/C++ ones). Python
        code recurses on this stack: below about 256 KiB, deep ``repr``,
        ``pickle`` or ``json`` calls can overflow it.
    ``guard_page``
        stacks in their own mapping with a guard page.
    """

    __slots__ = ("_config", "__weakref__")

    def __init__(self, *, max_memory: Optional[int] = None, max_fuel: Optional[int] = None,
                 can_spawn_processes: Optional[bool] = None, can_create_configs: Optional[bool] = None,
                 stack_size: Optional[int] = None, guard_page: Optional[bool] = None) -> None:
        self._config = _lunatic.config_new()
        for name, value in (("max_memory", max_memory), ("max_fuel", max_fuel),
                            ("can_spawn_processes", can_spawn_processes),
                            ("can_create_configs", can_create_configs), ("stack_size", stack_size),
                            ("guard_page", guard_page)):
            if value is not None:
                setattr(self, name, value)

    # ---- limits

    @property
    def max_memory(self) -> int:
        """Bytes of stack plus queued messages the process may hold (0 = no limit)."""
        return _lunatic.config_get(self._config, _lunatic.CONFIG_MAX_MEMORY)

    @max_memory.setter
    def max_memory(self, value: int) -> None:
        _lunatic.config_set(self._config, _lunatic.CONFIG_MAX_MEMORY, _count("max_memory", value))

    @property
    def max_fuel(self) -> int:
        """CPU budget in microseconds of running time (0 = none)."""
        return _lunatic.config_get(self._config, _lunatic.CONFIG_MAX_FUEL)

    @max_fuel.setter
    def max_fuel(self, value: int) -> None:
        _lunatic.config_set(self._config, _lunatic.CONFIG_MAX_FUEL, _count("max_fuel", value))

    # ---- permissions

    @property
    def can_spawn_processes(self) -> bool:
        """Whether processes with this config may spawn (``False`` until set)."""
        return _lunatic.config_get(self._config, _lunatic.CONFIG_CAN_SPAWN_PROCESSES)

    @can_spawn_processes.setter
    def can_spawn_processes(self, value: bool) -> None:
        _lunatic.config_set(self._config, _lunatic.CONFIG_CAN_SPAWN_PROCESSES, int(bool(value)))

    @property
    def can_create_configs(self) -> bool:
        """Whether processes with this config may create configs (``False`` until set)."""
        return _lunatic.config_get(self._config, _lunatic.CONFIG_CAN_CREATE_CONFIGS)

    @can_create_configs.setter
    def can_create_configs(self, value: bool) -> None:
        _lunatic.config_set(self._config, _lunatic.CONFIG_CAN_CREATE_CONFIGS, int(bool(value)))

    # ---- stacks

    @property
    def stack_size(self) -> int:
        """Stack bytes of the processes spawned with it (0 = the default)."""
        return _lunatic.config_get(self._config, _lunatic.CONFIG_STACK_SIZE)

    @stack_size.setter
    def stack_size(self, value: int) -> None:
        _lunatic.config_set(self._config, _lunatic.CONFIG_STACK_SIZE, _count("stack_size", value))

    @property
    def guard_page(self) -> bool:
        """Whether their stacks have a guard page."""
        return _lunatic.config_get(self._config, _lunatic.CONFIG_GUARD_PAGE)

    @guard_page.setter
    def guard_page(self, value: bool) -> None:
        _lunatic.config_set(self._config, _lunatic.CONFIG_GUARD_PAGE, int(bool(value)))

    # ---- chained setters, as in C++ (lunatic::ProcessConfig) and lunatic-rs

    def set_max_memory(self, bytes: int) -> "ProcessConfig":
        self.max_memory = bytes
        return self

    def set_max_fuel(self, microseconds: int) -> "ProcessConfig":
        self.max_fuel = microseconds
        return self

    def set_can_spawn_processes(self, allowed: bool) -> "ProcessConfig":
        self.can_spawn_processes = allowed
        return self

    def set_can_create_configs(self, allowed: bool) -> "ProcessConfig":
        self.can_create_configs = allowed
        return self

    def set_stack_size(self, bytes: int) -> "ProcessConfig":
        self.stack_size = bytes
        return self

    def set_guard_page(self, enabled: bool) -> "ProcessConfig":
        self.guard_page = enabled
        return self

    def __repr__(self) -> str:
        return (f"lunatic.ProcessConfig(max_memory={self.max_memory}, max_fuel={self.max_fuel}, "
                f"can_spawn_processes={self.can_spawn_processes}, "
                f"can_create_configs={self.can_create_configs}, stack_size={self.stack_size}, "
                f"guard_page={self.guard_page})")

    def _values(self) -> dict:
        return {name: getattr(self, name) for name in ("max_memory", "max_fuel", "can_spawn_processes",
                                                        "can_create_configs", "stack_size", "guard_page")}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProcessConfig):
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None  # mutable

    def __reduce__(self):
        # Pickled as its values: unpickling creates a new config, which needs
        # can_create_configs in the process that unpickles it.
        return (_config_from_values, (self._values(),))


def _config_from_values(values: dict) -> ProcessConfig:
    return ProcessConfig(**values)


# The stack size of the calling process's config, as far as Python knows it (the C ABI has no
# getter for a process's own config). A spawn without a config inherits the spawner's config in
# the runtime; Python passes its 8 MiB default stack explicitly, which would override the
# inherited config's stack_size: so the Python spawns pass this one instead. Thread states are
# per process, so this threading.local is too.
_inherited = threading.local()


def _config_stack() -> int:
    """The calling process's config's stack_size (0: none known)."""
    return getattr(_inherited, "stack_size", 0)


def _set_config_stack(stack_size: int) -> None:
    if stack_size:
        _inherited.stack_size = stack_size


def _child_stacks(config: Optional[ProcessConfig], stack_size: Optional[int]) -> "tuple[Optional[int], int]":
    """(the stack to pass to the spawn or None for Python's default, the child's config stack)."""
    if config is not None and not isinstance(config, ProcessConfig):
        raise TypeError(f"config is a lunatic.ProcessConfig, not {type(config).__name__}")
    config_stack = config.stack_size if config is not None else _config_stack()
    if stack_size is None and config_stack:
        stack_size = config_stack
    return stack_size, config_stack

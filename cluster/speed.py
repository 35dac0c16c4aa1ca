"""Cheaper call-site lookups for pyinfra's operation ordering.

pyinfra 3.10 orders operations by the line numbers of their call sites and
finds them with ``inspect.stack()`` and ``inspect.getframeinfo(frame)``,
which by default also read one line of source per frame (``findsource``
walks every loaded module to map each frame to its file). Only file names
and line numbers are used, so asking for no source context (``context=0``)
gives pyinfra exactly the same order. Measured on this deploy: about 4 ms per
operation call, half the deploy file's own cost on the management node
(docs/benchmarks.md).
"""

from __future__ import annotations

import inspect


def _stack():
    return inspect.stack(0)


def _getframeinfo(frame):
    return inspect.getframeinfo(frame, 0)


def cheap_call_sites() -> None:
    import pyinfra.api.util as util

    if getattr(util.stack, "kvm_cluster_patched", False):
        return
    _stack.kvm_cluster_patched = True
    util.stack = _stack
    util.getframeinfo = _getframeinfo

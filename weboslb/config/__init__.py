"""The switch configuration: model, command tree, Alteon dump and YAML I/O, validation, and the
pending / applied / saved store.  See docs/config.md.

Everything here is pure (text and objects in, text and objects out) except ``files`` and
``cli``, the shells that touch the file system.
"""
from weboslb.config.diag import Loaded, Problem
from weboslb.config.model import Backup, Config, Pbind, ProxyIp
from weboslb.config.store import Store
from weboslb.config.validate import Limits

__all__ = ["Backup", "Config", "Limits", "Loaded", "Pbind", "Problem", "ProxyIp", "Store"]

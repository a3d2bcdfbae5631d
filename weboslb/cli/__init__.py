"""The switch console: Alteon's menu-driven CLI over the config store and the running switch.

``tree`` (the menus as data), ``dispatch`` (one line in, output and menu path out: pure),
``render`` (the pages), ``completer``, ``runtime`` (what the console talks to), and the
shells: ``app`` (the prompt_toolkit session, the only terminal code), ``script``
(non-interactive runs) and ``command`` (``weboslb cli``).  See docs/console.md.
"""

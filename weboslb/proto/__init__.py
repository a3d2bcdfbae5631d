"""Pure packet understanding for the switch's slow path: the frame decoder (``frame``), the L7
extractors the persistence modes read (``tls`` session IDs, ``http`` cookies and URLs, ``ftp``
PORT/PASV lines), and the frame rewriting of NAT and switch-originated segments (``rewrite``,
``checksum``).  ``csrc/`` implements the decoder and the extractors again for the fast path;
the two agree frame by frame (the semantics are written down in each module).
"""

"""``weboslb switch``: one switch as a process: the node on the wall clock (``daemon``), its
wires to the peer (``links``), captures replayed into it (``feed``), its console
(``console``), and the command line (``cli``)."""

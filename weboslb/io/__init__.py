"""IO shells: capture files in and out, the replay runner, links to the peer and the console."""

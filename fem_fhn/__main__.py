from fem_fhn.cli import entry

entry()

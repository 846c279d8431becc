"""The `lsa` subcommands, one module per family; `lsa.cli` wires them into one parser."""

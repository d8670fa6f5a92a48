"""The front doors: argument parsing and wiring of library calls for each command."""

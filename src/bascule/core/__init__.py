"""Pure decisions: stdlib only, no I/O, no event loop; time and randomness are passed in."""

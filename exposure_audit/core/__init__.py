"""The small core: the model, addresses, errors, atomic I/O, Facts (de)serialisation."""

"""User-facing errors."""


class InputError(ValueError):
    """A mistake in something the user supplied: a file, a config key, a CLI argument.

    The message is a single line that names the file, key or argument at fault and what was
    expected, e.g. `"net.npz: key 'W2' has shape (2, 16) but 'W1' has 32 outputs; expected
    (2, 32)"`. The CLI prints it as it is, without a traceback.

    It subclasses `ValueError`, so code that validates arguments can raise it wherever a
    `ValueError` is documented.
    """

"""The ``uvmsm-jax`` command line (also ``python -m uvmsm_jax``): one module per subcommand.

The library never imports this package; it reads the model registry (:mod:`uvmsm_jax.models`) to
generate the model options. Entry points: :func:`main` (returns the exit status) and :func:`console_script` (the command).
"""

from ._common import (
    COMMAND_MODULES as COMMAND_MODULES,
)
from ._common import (
    PROG as PROG,
)
from ._common import (
    Command as Command,
)
from ._common import (
    UsageError as UsageError,
)
from ._common import (
    build_parser as build_parser,
)
from ._common import (
    console_script as console_script,
)
from ._common import (
    main as main,
)

__all__ = ["COMMAND_MODULES", "PROG", "Command", "UsageError", "build_parser", "console_script", "main"]

"""``python -m kairos.clv fit-clv ...``"""

import sys

from kairos.clv.cli import cli_fit_clv

sys.exit(cli_fit_clv())

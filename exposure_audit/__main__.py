import sys

from exposure_audit.cli import main

sys.exit(main())

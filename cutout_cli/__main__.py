import sys

from cutout_cli.main import main

sys.exit(main())

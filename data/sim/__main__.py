import sys

from data.sim.run import main

sys.exit(main())

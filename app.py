"""Start the web app: `python app.py [--backend embedded|openai|scripted] [--port 7860] …`.

Same as `python -m simulator serve`; settings come from SIMULATOR_* variables, `.env` and these flags.
"""

import sys

from simulator.cli import main

if __name__ == "__main__":
    main(["serve", *sys.argv[1:]])

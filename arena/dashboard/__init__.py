"""The read-only Streamlit dashboard of a project's store: `arena dashboard`.

`data` (everything the pages show, as plain data; never Streamlit), `common` (the pages' caching
and sidebar), `charts` (plotly figures), `app` (the entry script Streamlit runs) and `pages/`
(one script per page). The pages import `arena.dashboard.*` like any module: the package is
installed, so nothing edits `sys.path`.
"""

from pathlib import Path

APP = Path(__file__).resolve().with_name("app.py")  # what `streamlit run` is given
PAGES = APP.with_name("pages")

import os

DB_URL = os.environ.get("DASHBOARD_DB_URL")

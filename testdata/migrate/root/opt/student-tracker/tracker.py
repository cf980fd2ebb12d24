from dotenv import load_dotenv
import os

# Opens .env itself: vault-migrate reports this, it cannot change it.
load_dotenv()
token = os.getenv("CANVAS_API_TOKEN")

import os

# Reads its token from the environment, as vault-exec provides it.
token = os.environ.get('TELEGRAM_BOT_TOKEN')

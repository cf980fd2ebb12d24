# The Python SDK sketch from the owner's roadmap (Phase 3, "Python SDK
# design"), copied VERBATIM below this comment block. It is a test
# fixture: test_roadmap_sketch.py checks that this code keeps working,
# unchanged, against the real daemon. Do not edit the code below.

# clients/python/jawn_vault/__init__.py
import socket
import json
import os
from typing import Optional
from contextlib import contextmanager

class VaultClient:
    def __init__(
        self,
        socket_path: Optional[str] = None,
        token: Optional[str] = None,
    ):
        self.socket_path = socket_path or os.environ.get(
            'VAULT_SOCKET',
            f"/run/user/{os.getuid()}/jawn-vault.sock"
        )
        self.token = token or os.environ.get('VAULT_TOKEN', '')
        self._socket = None
        self._request_id = 0

    def __enter__(self):
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.connect(self.socket_path)
        return self

    def __exit__(self, *args):
        if self._socket:
            self._socket.close()

    def _request(self, method: str, **params) -> dict:
        self._request_id += 1
        request = {
            'id': f'py-{self._request_id}',
            'auth': self.token,
            'method': method,
            'params': {k: v for k, v in params.items() if v is not None}
        }
        self._socket.send((json.dumps(request) + '\n').encode())
        response = b''
        while not response.endswith(b'\n'):
            response += self._socket.recv(4096)
        return json.loads(response.decode())

    def get(self, path: str) -> str:
        resp = self._request('get', path=path)
        if 'error' in resp:
            raise VaultError(resp['error']['message'])
        return resp['result']['value']

    def set(self, path: str, value: str) -> None:
        resp = self._request('set', path=path, value=value)
        if 'error' in resp:
            raise VaultError(resp['error']['message'])

    def list(self, prefix: Optional[str] = None) -> list[str]:
        resp = self._request('list', prefix=prefix)
        if 'error' in resp:
            raise VaultError(resp['error']['message'])
        return resp['result']['paths']

class VaultError(Exception):
    pass

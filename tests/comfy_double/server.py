"""TEST DOUBLE of ComfyUI's server.PromptServer: records what the pack sends to the browser."""


class _Routes(list):
    def _add(self, method, path):
        def decorator(handler):
            self.append((method, path, handler))
            return handler

        return decorator

    def get(self, path):
        return self._add("GET", path)

    def post(self, path):
        return self._add("POST", path)

    def delete(self, path):
        return self._add("DELETE", path)


class PromptServer:
    instance = None

    def __init__(self) -> None:
        self.client_id = "test-client"
        self.texts: list[tuple[str, str]] = []
        self.events: list[tuple[str, dict]] = []
        self.routes = _Routes()
        PromptServer.instance = self

    def send_progress_text(self, text, node_id, sid=None) -> None:
        self.texts.append((str(node_id), text))

    def send_sync(self, event, data, sid=None) -> None:
        self.events.append((event, data))

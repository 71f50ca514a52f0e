"""The controller's HTTP surface.

* `webhook`: pure verification of GitHub and GitLab webhook deliveries, and the pushed branch.
* `metrics`: the Prometheus metrics, in a registry of their own.
* `server`: the aiohttp application (`/healthz`, `/readyz`, `/metrics`, `/api/status`,
  `/webhook`) and `serve`, which binds it to `--listen`.
"""

__all__: list[str] = []

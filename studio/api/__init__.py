"""The job API for shops and scripts (`/api/v1`, on the app's server): keys, the HTTP
routes, and the webhooks that call a client back when its job ends."""

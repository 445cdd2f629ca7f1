"""FastAPI services: ``env_server.create_app`` serves any registered env over HTTP
(``python -m servers <env> --port N``). The code sandbox comes later (see README)."""
